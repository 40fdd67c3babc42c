/**
 * Text folded to plain ASCII for the card-number scan, with where each folded
 * character came from, so what is found can be masked in the original.
 *
 * ASCII stays as it is. Any other character is put through NFKC (fullwidth
 * "４" and superscript "⁴" become "4", a no-break space a space, "⑪" "11"),
 * then every Unicode decimal digit (general category Nd: Arabic-Indic "٤",
 * Devanagari "४", …) becomes its ASCII digit; what is left is a letter ("x")
 * or a separator (" "). A card number written in any script's digits is then
 * seen as ASCII digits.
 */
export interface Folded {
  /** ASCII: digits, letters and punctuation. */
  text: string;
  /** The [from, to) UTF-16 units of the original character that `text[i]` came from. */
  origin(i: number): [number, number];
}

const DECIMAL_DIGIT = /\p{Nd}/u;
const LETTER_OR_NUMBER = /[\p{L}\p{N}]/u;
const NON_ASCII = /[^\x00-\x7f]+/g;
const HAS_NON_ASCII = /[^\x00-\x7f]/;
const folds = new Map<number, string>();

/** Linear; ASCII runs are copied whole, so plain ASCII costs one regular-expression pass. */
export function foldText(text: string): Folded {
  if (!HAS_NON_ASCII.test(text)) return { text, origin: (i) => [i, i + 1] };
  const parts: string[] = [];
  // Where folded ranges start to differ from the original: [foldedStart, originalStart, originalWidth, length].
  const shifts: number[][] = [];
  let folded = 0;
  let copied = 0;
  for (const run of text.matchAll(NON_ASCII)) {
    parts.push(text.slice(copied, run.index));
    folded += run.index - copied;
    for (let i = run.index; i < run.index + run[0].length; ) {
      const point = text.codePointAt(i)!;
      const width = point > 0xffff ? 2 : 1;
      const ascii = foldPoint(point);
      parts.push(ascii);
      shifts.push([folded, i, width, ascii.length]);
      folded += ascii.length;
      i += width;
    }
    copied = run.index + run[0].length;
  }
  parts.push(text.slice(copied));
  return { text: parts.join(''), origin: (i) => originOf(shifts, i) };
}

/** Binary search for the last non-ASCII character folded at or before `i`. */
function originOf(shifts: number[][], i: number): [number, number] {
  let lo = 0;
  let hi = shifts.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (shifts[mid]![0]! <= i) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (found < 0) return [i, i + 1];
  const [foldedStart, start, width, length] = shifts[found]!;
  if (i < foldedStart! + length!) return [start!, start! + width!];
  const at = start! + width! + (i - foldedStart! - length!);
  return [at, at + 1];
}

/** The ASCII a non-ASCII code point folds to (cached: a text repeats few distinct characters). */
function foldPoint(point: number): string {
  let folded = folds.get(point);
  if (folded === undefined) {
    folded = '';
    for (const c of String.fromCodePoint(point).normalize('NFKC')) folded += asciiOf(c);
    if (folded === '') folded = ' ';
    if (folds.size < 10_000) folds.set(point, folded);
  }
  return folded;
}

function asciiOf(c: string): string {
  if (c.charCodeAt(0) < 128) return c;
  if (DECIMAL_DIGIT.test(c)) return String(digitValue(c.codePointAt(0)!));
  return LETTER_OR_NUMBER.test(c) ? 'x' : ' ';
}

/**
 * Unicode encodes every script's decimal digits as contiguous runs of ten,
 * 0 to 9 (a stability policy), some runs back to back: the value is the
 * distance from the start of the whole run of Nd characters, modulo ten.
 */
function digitValue(point: number): number {
  let start = point;
  while (DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start--;
  return (point - start) % 10;
}
