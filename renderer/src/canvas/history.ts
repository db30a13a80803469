// Undo/redo over a list of edits: the document is "the first `cursor` edits"; a new edit drops the
// redo tail. Snapshots every few edits keep undo fast on long sessions without storing every state.

export class EditHistory<E, S> {
  private edits: E[] = [];
  private cursor = 0;
  private snapshots = new Map<number, S>();

  constructor(
    private readonly initial: () => S,
    private readonly apply: (state: S, edit: E) => S,
    private readonly clone: (state: S) => S,
    private readonly snapshotEvery = 12,
  ) {}

  get canUndo(): boolean {
    return this.cursor > 0;
  }
  get canRedo(): boolean {
    return this.cursor < this.edits.length;
  }
  get length(): number {
    return this.cursor;
  }
  /** The edits currently applied, oldest first. */
  applied(): readonly E[] {
    return this.edits.slice(0, this.cursor);
  }

  push(edit: E): void {
    this.edits.length = this.cursor;
    for (const k of this.snapshots.keys()) if (k > this.cursor) this.snapshots.delete(k);
    this.edits.push(edit);
    this.cursor++;
  }
  undo(): boolean {
    if (!this.canUndo) return false;
    this.cursor--;
    return true;
  }
  redo(): boolean {
    if (!this.canRedo) return false;
    this.cursor++;
    return true;
  }
  reset(): void {
    this.edits = [];
    this.cursor = 0;
    this.snapshots.clear();
  }

  /** The state after the applied edits, replayed from the nearest snapshot. */
  state(): S {
    let start = 0;
    for (const k of this.snapshots.keys()) if (k <= this.cursor && k > start) start = k;
    let s = start ? this.clone(this.snapshots.get(start)!) : this.initial();
    for (let i = start; i < this.cursor; i++) {
      s = this.apply(s, this.edits[i]!);
      if ((i + 1) % this.snapshotEvery === 0 && !this.snapshots.has(i + 1)) this.snapshots.set(i + 1, this.clone(s));
    }
    return s;
  }
}
