// Command-line parsing for `ldm`: flags are declared once per command with their type, and every
// value is checked here so the commands receive clean numbers.
import { parseArgs } from 'node:util';

/** Bad usage: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagType = 'string' | 'int' | 'number' | 'boolean' | 'size';

export interface FlagSpec {
  readonly type: FlagType;
  readonly help: string;
  readonly short?: string;
  /** The value's name in help (FILE, DIR, TEXT…); default from the type. */
  readonly arg?: string;
  /** May be given several times: the value is then a list (strings only). */
  readonly multiple?: boolean;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export type FlagValue = string | string[] | number | boolean | { width: number; height: number };

export interface Parsed {
  readonly flags: Readonly<Record<string, FlagValue | undefined>>;
  readonly positionals: readonly string[];
}

export function parseCommandLine(argv: readonly string[], specs: FlagSpecs): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, s] of Object.entries(specs)) {
    if (s.multiple && s.type !== 'string') throw new Error(`flag --${name}: only string flags may repeat`);
    options[name] = { type: s.type === 'boolean' ? 'boolean' : 'string', ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) };
  }
  let raw: ReturnType<typeof parseArgs>;
  try {
    raw = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(cleanNodeMessage((e as Error).message));
  }
  const flags: Record<string, FlagValue | undefined> = {};
  for (const [name, s] of Object.entries(specs)) {
    const v = raw.values[name];
    flags[name] = v === undefined ? undefined : s.multiple ? (v as string[]) : convert(name, s.type, v as string | boolean);
  }
  return { flags, positionals: raw.positionals };
}

function convert(name: string, type: FlagType, v: string | boolean): FlagValue {
  if (type === 'boolean' || type === 'string') return v;
  const s = String(v).trim();
  if (type === 'size') {
    const m = /^(\d+)(?:[x×](\d+))?$/i.exec(s);
    if (!m) throw new UsageError(`--${name} must be WIDTHxHEIGHT or one number for a square, e.g. 512x512; got "${s}"`);
    const width = Number(m[1]);
    return { width, height: m[2] === undefined ? width : Number(m[2]) };
  }
  const n = Number(s);
  if (s === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${s}"`);
  if (type === 'int' && !Number.isInteger(n)) throw new UsageError(`--${name} must be a whole number, got "${s}"`);
  return n;
}

function cleanNodeMessage(m: string): string {
  // node:util adds advice about '--' that does not fit ldm's usage; keep the first sentence.
  return m.split('. To specify')[0]!.replace(/\.$/, '') + " (see 'ldm help')";
}

export function helpFor(specs: FlagSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const arg = s.type === 'boolean' ? '' : ` ${s.arg ?? (s.type === 'size' ? 'WxH' : s.type === 'string' ? 'TEXT' : 'N')}`;
    return [`  ${s.short ? `-${s.short}, ` : '    '}--${name}${arg}${s.multiple ? ' …' : ''}`, s.help] as const;
  });
  const width = Math.max(...rows.map(([a]) => a.length)) + 2;
  return rows.map(([a, b]) => a.padEnd(width) + b).join('\n');
}
