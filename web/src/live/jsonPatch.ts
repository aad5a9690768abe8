// RFC 6902 JSON Patch (add / replace / remove, the ops the live stream sends; move / copy / test too for
// completeness), applied without mutating the input: every container on the path is copied, the rest shared,
// so React sees a new object exactly where something changed.
export type PatchOp =
  | { op: "add" | "replace" | "test"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "move" | "copy"; from: string; path: string };

export class PatchError extends Error {}

/** "/a/b~1c/0" -> ["a", "b/c", "0"] (RFC 6901). "" -> [] (the whole document). */
export function parsePointer(ptr: string): string[] {
  if (ptr === "") return [];
  if (!ptr.startsWith("/")) throw new PatchError(`bad pointer ${JSON.stringify(ptr)}`);
  return ptr.slice(1).split("/").map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function index(arr: unknown[], key: string, forAdd: boolean): number {
  if (forAdd && key === "-") return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) throw new PatchError(`bad array index ${key}`);
  const i = Number(key);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`index ${i} out of range`);
  return i;
}

function get(doc: unknown, tokens: string[]): unknown {
  let cur = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[index(cur, t, false)];
    else if (isObj(cur) && Object.prototype.hasOwnProperty.call(cur, t)) cur = cur[t];
    else throw new PatchError(`no ${t} on the path`);
  }
  return cur;
}

/** ``doc`` with ``fn`` applied to the container that holds the last token (copied on the way down). */
function edit(doc: unknown, tokens: string[], fn: (parent: unknown, key: string) => unknown): unknown {
  if (tokens.length === 0) throw new PatchError("edit of the root");
  const [head, ...rest] = tokens;
  if (rest.length === 0) return fn(doc, head);
  if (Array.isArray(doc)) {
    const i = index(doc, head, false);
    const out = doc.slice();
    out[i] = edit(doc[i], rest, fn);
    return out;
  }
  if (isObj(doc) && Object.prototype.hasOwnProperty.call(doc, head)) return { ...doc, [head]: edit(doc[head], rest, fn) };
  throw new PatchError(`no ${head} on the path`);
}

function add(doc: unknown, tokens: string[], value: unknown): unknown {
  if (tokens.length === 0) return value;
  return edit(doc, tokens, (parent, key) => {
    if (Array.isArray(parent)) {
      const out = parent.slice();
      out.splice(index(parent, key, true), 0, value);
      return out;
    }
    if (isObj(parent)) return { ...parent, [key]: value };
    throw new PatchError(`cannot add ${key} to a scalar`);
  });
}

function remove(doc: unknown, tokens: string[]): unknown {
  return edit(doc, tokens, (parent, key) => {
    if (Array.isArray(parent)) {
      const out = parent.slice();
      out.splice(index(parent, key, false), 1);
      return out;
    }
    if (isObj(parent) && Object.prototype.hasOwnProperty.call(parent, key)) {
      const out = { ...parent };
      delete out[key];
      return out;
    }
    throw new PatchError(`nothing to remove at ${key}`);
  });
}

function replace(doc: unknown, tokens: string[], value: unknown): unknown {
  if (tokens.length === 0) return value;
  get(doc, tokens);                        // must exist
  return edit(doc, tokens, (parent, key) => {
    if (Array.isArray(parent)) {
      const out = parent.slice();
      out[index(parent, key, false)] = value;
      return out;
    }
    return { ...(parent as Record<string, unknown>), [key]: value };
  });
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** ``doc`` after ``ops`` (a new value; ``doc`` is left as it was). Throws PatchError on a bad op. */
export function applyPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  let cur: unknown = doc;
  for (const op of ops) {
    const tokens = parsePointer(op.path);
    switch (op.op) {
      case "add": cur = add(cur, tokens, op.value); break;
      case "remove": cur = remove(cur, tokens); break;
      case "replace": cur = replace(cur, tokens, op.value); break;
      case "move": { const from = parsePointer(op.from); const v = get(cur, from); cur = add(remove(cur, from), tokens, v); break; }
      case "copy": cur = add(cur, tokens, get(cur, parsePointer(op.from))); break;
      case "test": if (!equal(get(cur, tokens), op.value)) throw new PatchError(`test failed at ${op.path}`); break;
      default: throw new PatchError(`unknown op ${(op as { op: string }).op}`);
    }
  }
  return cur as T;
}
