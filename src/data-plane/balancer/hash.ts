/**
 * Non-cryptographic 32-bit hashing for the hash ring and sticky cookies. FNV-1a is tiny and fast
 * on the short strings we see (addresses, session ids, server names), but its high bits diffuse
 * poorly when inputs differ only in their last characters (10.0.0.1, 10.0.0.2, …); murmur3's
 * fmix32 finaliser fixes that, which matters because ring lookups compare whole 32-bit values.
 *
 * Output must never change between versions without thought: sticky cookies already issued and
 * the key → server mapping of `hash` both depend on it.
 */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Raw (unfinalised) FNV-1a state after feeding `s`, continuing from `state`. */
export function fnv1a(s: string, state: number = FNV_OFFSET): number {
  let h = state;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x100) {
      h = Math.imul(h ^ c, FNV_PRIME);
    } else {
      // UTF-16 units above one byte are fed as two bytes so every unit contributes all its bits.
      h = Math.imul(h ^ (c & 0xff), FNV_PRIME);
      h = Math.imul(h ^ (c >>> 8), FNV_PRIME);
    }
  }
  return h >>> 0;
}

/** Raw FNV-1a state after feeding the 4 little-endian bytes of `n`. */
export function fnv1aU32(n: number, state: number): number {
  let h = state;
  h = Math.imul(h ^ (n & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((n >>> 8) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ ((n >>> 16) & 0xff), FNV_PRIME);
  h = Math.imul(h ^ (n >>> 24), FNV_PRIME);
  return h >>> 0;
}

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Well-mixed unsigned 32-bit hash of a string. */
export function hash32(s: string): number {
  return fmix32(fnv1a(s));
}
