/**
 * UTF-8 through the platform's TextEncoder and TextDecoder, globals wherever common/ runs (Node,
 * browsers, Electron). common/'s type library (ES2022, no DOM) does not declare them, so the
 * members used here are declared for this module.
 */
declare const TextEncoder: new () => { encode(s: string): Uint8Array };
declare const TextDecoder: new (
  label: 'utf-8',
  options: { fatal: boolean; ignoreBOM: boolean },
) => { decode(bytes: Uint8Array): string };

const encoder = new TextEncoder();
// fatal: ill-formed input throws instead of decoding to U+FFFD; ignoreBOM: a leading U+FEFF is kept.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of a string; lone surrogates become U+FFFD (JSON.stringify escapes them anyway). */
export function encodeUtf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** The string UTF-8 bytes encode, or null where they are not well-formed UTF-8 (overlongs, surrogates, truncation). */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}
