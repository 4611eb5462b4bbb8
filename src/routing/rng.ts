/**
 * Seeded pseudo-random generator for every random choice in routing, so a seed
 * replays the same choices in tests, benchmarks and the route explanation command.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator,
 * 32-bit variant, from PractRand), seeded with the 128-bit cyrb128 string hash.
 * It is not cryptographically secure: never derive keys or tickets from it.
 */
export interface Rng {
  /** Uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** Uniform number in [0, 1) with 32 bits of resolution. */
  next(): number;
  /** Uniform integer in [0, bound), without modulo bias. Throws RangeError unless bound is an integer in 1..2^32. */
  nextInt(bound: number): number;
  /** Returns a generator that starts from this one's current state and then runs independently of it. */
  fork(): Rng;
}

const UINT32_RANGE = 0x1_0000_0000;

/** Outputs discarded after seeding so that similar seeds diverge, as PractRand's sfc32 seeding does. */
const WARM_UP_ROUNDS = 12;

/**
 * Creates a generator whose stream depends only on `String(seed)`, so the number 42
 * and the string "42" give the same stream on every platform and run.
 */
export function createRng(seed: string | number): Rng {
  if (typeof seed === 'number' && !Number.isFinite(seed)) {
    throw new RangeError(`rng seed ${seed} is not a finite number; pass a finite number or a string`);
  }
  const [h1, h2, h3, h4] = hashCyrb128(String(seed));
  const state: Sfc32State = { a: h1, b: h2, c: h3, counter: h4 };
  const next32 = (): number => stepSfc32(state);
  for (let i = 0; i < WARM_UP_ROUNDS; i++) {
    next32();
  }
  return rngFromState(state);
}

function rngFromState(state: Sfc32State): Rng {
  const next32 = (): number => stepSfc32(state);
  return {
    nextUint32: next32,
    next: () => next32() / UINT32_RANGE,
    nextInt: (bound: number) => drawBelow(next32, bound),
    fork: () => rngFromState({ ...state }),
  };
}

/** Rejection sampling: draws above the largest multiple of `bound` are redrawn so every result is equally likely. */
function drawBelow(next32: () => number, bound: number): number {
  if (!Number.isInteger(bound) || bound < 1 || bound > UINT32_RANGE) {
    throw new RangeError(`rng bound ${bound} is invalid; expected an integer from 1 to 2^32`);
  }
  const limit = UINT32_RANGE - (UINT32_RANGE % bound);
  let value = next32();
  while (value >= limit) {
    value = next32();
  }
  return value % bound;
}

/** bryc's cyrb128: four 32-bit words from a string, used only to spread the seed over sfc32's state. */
function hashCyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  h1 ^= h2 ^ h3 ^ h4;
  h2 ^= h1;
  h3 ^= h1;
  h4 ^= h1;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

/** The 128-bit state of sfc32: three 32-bit words and a counter. */
interface Sfc32State {
  a: number;
  b: number;
  c: number;
  counter: number;
}

/** sfc32 step: advances `state` and returns the next 32-bit output as an unsigned integer. */
function stepSfc32(state: Sfc32State): number {
  const { a, b, c, counter } = state;
  const t = (((a + b) | 0) + counter) | 0;
  state.counter = (counter + 1) | 0;
  state.a = b ^ (b >>> 9);
  state.b = (c + (c << 3)) | 0;
  const rotated = (c << 21) | (c >>> 11);
  state.c = (rotated + t) | 0;
  return t >>> 0;
}
