/**
 * Walks a parsed message (a JSON body, AMQP headers) without recursion, so a
 * value nested thousands deep cannot overflow the stack, and refuses it
 * outright past a depth or a number of values no event comes near.
 */

/** A CloudEvent is 2 deep (envelope, data); room for extensions. */
export const MAX_DEPTH = 32;
/** Keys, array items and scalars counted together; an InventoryReserved has about 15. */
export const MAX_VALUES = 4096;

/** A key or a scalar met on the walk, as text (numbers as their digits, byte strings decoded). */
export interface Visited {
  text: string;
  /** 'key' for an object's key; 'string' for a string or decoded bytes; 'other' for numbers and the rest. */
  kind: 'key' | 'string' | 'other';
  /** The dotted path to it ("data.customerId"), built only when asked. */
  path(): string;
}

interface Frame {
  value: unknown;
  depth: number;
  key: string | undefined;
  parent: Frame | undefined;
}

/**
 * Calls `visit` for every key and scalar until it returns true (then: 'stopped').
 * Answers a reason, naming no key or value, when the value is too deep or too big.
 */
export function walkJson(root: unknown, visit: (v: Visited) => boolean): 'done' | 'stopped' | { tooComplex: string } {
  const stack: Frame[] = [{ value: root, depth: 0, key: undefined, parent: undefined }];
  let values = 0;
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if (++values > MAX_VALUES) return { tooComplex: `holds more than ${MAX_VALUES} keys and values: fewer are expected` };
    if (frame.depth > MAX_DEPTH) return { tooComplex: `is nested more than ${MAX_DEPTH} levels deep: fewer are expected` };
    const path = () => pathOf(frame);
    const { value } = frame;
    if (Buffer.isBuffer(value)) {
      if (visitBytes(value, path, visit)) return 'stopped';
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], depth: frame.depth + 1, key: String(i), parent: frame });
    } else if (value !== null && typeof value === 'object') {
      const keys = Object.keys(value);
      if (values + keys.length > MAX_VALUES) return { tooComplex: `holds more than ${MAX_VALUES} keys and values: fewer are expected` };
      for (const key of keys) {
        values++;
        if (visit({ text: key, kind: 'key', path })) return 'stopped';
      }
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!;
        stack.push({ value: (value as Record<string, unknown>)[key], depth: frame.depth + 1, key, parent: frame });
      }
    } else if (typeof value === 'string') {
      if (visit({ text: value, kind: 'string', path })) return 'stopped';
    } else if (typeof value === 'number' || typeof value === 'bigint') {
      if (visit({ text: numberDigits(value), kind: 'other', path })) return 'stopped';
    }
  }
  return 'done';
}

/** Bytes as latin1 (every byte seen, even in a string that is not UTF-8) and as UTF-8 (other scripts' digits). */
function visitBytes(bytes: Buffer, path: () => string, visit: (v: Visited) => boolean): boolean {
  return visit({ text: bytes.toString('latin1'), kind: 'string', path }) || visit({ text: bytes.toString('utf8'), kind: 'string', path });
}

/** A number's digits as written out in full: 4.111111111111111e15 is "4111111111111111". */
export function numberDigits(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString();
  if (Number.isInteger(value) && Math.abs(value) < 1e21) return BigInt(value).toString();
  return String(value);
}

function pathOf(frame: Frame): string {
  const keys: string[] = [];
  for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) keys.push(f.key);
  return keys.reverse().join('.');
}
