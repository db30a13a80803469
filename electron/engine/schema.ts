// The engine's JSON (model.json and the architecture configs in it) is checked with zod schemas whose
// errors read as one sentence: the field's path, what it must be, and what it was. A rule's error
// text is what the value "must be"; a cross-field check (`addProblem`) words the whole problem.
import { z } from 'zod';

export const positiveInt = z.int({ error: 'a positive integer' }).positive({ error: 'a positive integer' });
export const positiveNumber = z.number({ error: 'a positive number' }).positive({ error: 'a positive number' });
export const finiteNumber = z.number({ error: 'a finite number' }); // zod numbers are finite
export const nonEmptyString = z.string({ error: 'a non-empty string' }).min(1, { error: 'a non-empty string' });
export const boolean = z.boolean({ error: 'true or false' });

/** A list of positive integers, judged as a whole (the error names the list, not an item). */
export function positiveIntList(nonEmpty: boolean) {
  const says = `a ${nonEmpty ? 'non-empty ' : ''}list of positive integers`;
  return z.custom<number[]>((v) => Array.isArray(v) && (v.length > 0 || !nonEmpty) && v.every((x) => positiveInt.safeParse(x).success), { error: says });
}

/** An object that keeps keys the schema does not name (configs and model.json carry options). */
export function record<S extends z.core.$ZodLooseShape>(shape: S, says = 'an object') {
  return z.looseObject(shape, { error: says });
}

/** A cross-field problem of the object being refined, worded whole; its field path (and `field`'s) is put in front. */
export function addProblem(ctx: z.RefinementCtx, message: string, field?: string): void {
  ctx.addIssue({ code: 'custom', message, path: field === undefined ? [] : [field], params: { sentence: true } });
}

/** Cross-field checks run only once every field is valid, so they read well-typed values. */
export const whenFieldsValid = { when: (payload: { issues: readonly unknown[] }) => payload.issues.length === 0 };

function fieldPath(where: string, path: readonly PropertyKey[]): string {
  let s = where;
  for (const k of path) s += typeof k === 'number' ? `[${k}]` : s === '' ? String(k) : `.${String(k)}`;
  return s;
}

/** The first problem `schema` finds in `value` as a sentence (fields named under `where`), or null. */
export function firstProblem(schema: z.ZodType, value: unknown, where = ''): string | null {
  const r = schema.safeParse(value, { reportInput: true });
  if (r.success) return null;
  const issue = r.error.issues[0]!;
  const field = fieldPath(where, issue.path);
  if (issue.code === 'custom' && issue.params?.sentence) return field === '' ? issue.message : `${field}: ${issue.message}`;
  return `${field} must be ${issue.message}, got ${JSON.stringify(issue.input)}`;
}
