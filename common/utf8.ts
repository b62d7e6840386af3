/** UTF-8 without TextEncoder/TextDecoder, which common/ (environment-free: no DOM lib) does not have. */

/** UTF-8 bytes of a string; lone surrogates become U+FFFD (JSON.stringify escapes them anyway). */
export function encodeUtf8(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 3);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          out[n++] = 0xf0 | (cp >> 18);
          out[n++] = 0x80 | ((cp >> 12) & 0x3f);
          out[n++] = 0x80 | ((cp >> 6) & 0x3f);
          out[n++] = 0x80 | (cp & 0x3f);
          continue;
        }
        c = 0xfffd;
      }
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return out.slice(0, n);
}

/** The string UTF-8 bytes encode, or null where they are not well-formed UTF-8 (overlongs, surrogates, truncation). */
export function decodeUtf8(bytes: Uint8Array): string | null {
  const chunks: string[] = [];
  const units: number[] = [];
  const flush = () => {
    chunks.push(String.fromCharCode(...units));
    units.length = 0;
  };
  const cont = (i: number) => {
    const b = bytes[i];
    return b !== undefined && (b & 0xc0) === 0x80 ? b & 0x3f : -1;
  };
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    let cp: number;
    if (b < 0x80) {
      cp = b;
      i += 1;
    } else if (b >= 0xc2 && b <= 0xdf) {
      const c1 = cont(i + 1);
      if (c1 < 0) return null;
      cp = ((b & 0x1f) << 6) | c1;
      i += 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      const c1 = cont(i + 1);
      const c2 = cont(i + 2);
      if (c1 < 0 || c2 < 0) return null;
      cp = ((b & 0x0f) << 12) | (c1 << 6) | c2;
      if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return null;
      i += 3;
    } else if (b >= 0xf0 && b <= 0xf4) {
      const c1 = cont(i + 1);
      const c2 = cont(i + 2);
      const c3 = cont(i + 3);
      if (c1 < 0 || c2 < 0 || c3 < 0) return null;
      cp = ((b & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
      if (cp < 0x10000 || cp > 0x10ffff) return null;
      i += 4;
    } else {
      return null;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      units.push(cp);
    }
    if (units.length >= 8192) flush();
  }
  flush();
  return chunks.join('');
}
