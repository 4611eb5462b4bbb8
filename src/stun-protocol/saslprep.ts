/** Inclusive code point range. */
type CodePointRange = readonly [number, number];

/** Characters that SASLprep maps to nothing (RFC 3454 table B.1, used by RFC 4013 section 2.1). */
const MAPPED_TO_NOTHING: readonly CodePointRange[] = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];

/** Non-ASCII space characters that SASLprep maps to U+0020 (RFC 3454 table C.1.2). */
const NON_ASCII_SPACE: readonly CodePointRange[] = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];

/**
 * Characters prohibited in SASLprep output (RFC 4013 section 2.3): controls (RFC 3454 tables
 * C.2.1 and C.2.2), private use (C.3), non-characters (C.4), surrogates (C.5), characters
 * inappropriate for plain text (C.6) or canonical representation (C.7), display-changing
 * characters (C.8) and tags (C.9).
 */
const PROHIBITED: readonly CodePointRange[] = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x0340, 0x0341],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x180e, 0x180e],
  [0x200c, 0x200f],
  [0x2028, 0x202e],
  [0x2060, 0x2063],
  [0x206a, 0x206f],
  [0x2ff0, 0x2ffb],
  [0xd800, 0xdfff],
  [0xe000, 0xf8ff],
  [0xfdd0, 0xfdef],
  [0xfeff, 0xfeff],
  [0xfff9, 0xffff],
  [0x1d173, 0x1d17a],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
  [0xf0000, 0x10ffff],
];

function inRanges(codePoint: number, ranges: readonly CodePointRange[]): boolean {
  return ranges.some(([first, last]) => codePoint >= first && codePoint <= last);
}

/** Returns whether a code point is one of the non-characters U+nFFFE and U+nFFFF (RFC 3454 table C.4). */
function isNonCharacter(codePoint: number): boolean {
  return (codePoint & 0xfffe) === 0xfffe;
}

/**
 * Prepares a password with SASLprep (RFC 4013) as a query string: maps, normalizes with NFKC
 * and rejects prohibited characters with a RangeError naming the code point.
 * NOTE: the bidirectional-text check of RFC 3454 section 6 is not implemented, so a password
 * that mixes right-to-left and left-to-right text is accepted where SASLprep would reject it.
 */
export function saslprep(text: string): string {
  let mapped = '';
  for (const character of text) {
    const codePoint = character.codePointAt(0) ?? 0;
    if (inRanges(codePoint, MAPPED_TO_NOTHING)) {
      continue;
    }
    mapped += inRanges(codePoint, NON_ASCII_SPACE) ? ' ' : character;
  }

  const normalized = mapped.normalize('NFKC');
  for (const character of normalized) {
    const codePoint = character.codePointAt(0) ?? 0;
    if (inRanges(codePoint, PROHIBITED) || isNonCharacter(codePoint)) {
      const label = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
      throw new RangeError(`SASLprep rejects code point ${label} in the password; remove it`);
    }
  }
  return normalized;
}
