import { fromBase64Url } from "../../src/lib/encoding";

/** The JSON of a compact JWS's header (part 0) or payload (part 1), read without verifying. */
function part(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(fromBase64Url(token.split(".")[index] ?? "")));
}

export const kidOf = (token: string): string => String(part(token, 0).kid);
export const sidOf = (token: string): string => String(part(token, 1).sid);
