/**
 * The common shape of a batched JSON payload, read without JSON.parse: an array of point objects
 * (`[{"tag":"t1","value":1.5,"ts":…},…]`), or one such object. JSON.parse builds an object per
 * point only for the decoder to read five fields back out of it; on arrays of 100 points it was
 * half of a worker's time. This scanner reads the fields straight from the text.
 *
 * It accepts a strict subset of JSON and gives up (returns false) on anything outside it: a
 * string with an escape or a control character, a nested array or object, a key that is not one
 * of a point's, an object without `value`, an integer of 16 digits or more (exact text kept by the
 * general path), any syntax error. The caller then takes the general path (JSON.parse), so a
 * payload decodes to the same rows either way (test: test/encode/json-points.test.ts).
 */

/** Keys of an object that is one value; id, gateway, device, text, from and to are what a fieldgate share sends besides (docs/chain.md). */
export const POINT_KEYS: ReadonlySet<string> = new Set(['tag', 'value', 'ts', 'quality', 'id', 'gateway', 'device', 'text', 'from', 'to']);

/** The fields of the points read; `undefined` where an object has no such key. */
export class PointFields {
  n = 0;
  tag: unknown[] = [];
  value: unknown[] = [];
  ts: unknown[] = [];
  quality: unknown[] = [];
  text: unknown[] = [];
}

/* The characters the grammar turns on. */
const QUOTE = 34;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const COLON = 58;
const L_BRACKET = 91;
const BACKSLASH = 92;
const R_BRACKET = 93;
const L_BRACE = 123;
const R_BRACE = 125;

/** Key ids; Other is a key a point may have that the decoder does not read (id, gateway, …). */
const enum K {
  Tag,
  Value,
  Ts,
  Quality,
  Text,
  Other,
  None,
}

/** 10^0 … 10^22: the powers of ten a double holds exactly. */
const POW10 = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`));

/**
 * A plain decimal number in bytes (`[-+]?digits[.digits]` or `[-+]?.digits`, no blanks, no exponent,
 * at most 15 significant digits and 22 after the point) as Number() reads its text: the digits fit
 * 2^53 and the power of ten is exact, so the one division is correctly rounded. undefined for
 * anything else, which then goes the text way (a single value's payload: no string per value).
 */
export function plainDecimal(b: Uint8Array, start: number, end: number): number | undefined {
  if (start >= end) return undefined;
  let i = start;
  let neg = false;
  let c = b[i];
  if (c === MINUS || c === 43) {
    neg = c === MINUS;
    i++;
  }
  let m = 0;
  let significant = 0;
  let digits = 0;
  let scale = 0;
  let dot = false;
  for (; i < end; i++) {
    c = b[i];
    if (c >= ZERO && c <= NINE) {
      digits++;
      if (significant > 0 || c !== ZERO) significant++;
      m = m * 10 + (c - ZERO);
      if (dot) scale++;
    } else if (c === DOT && !dot) dot = true;
    else return undefined;
  }
  if (digits === 0 || significant > 15 || scale > 22) return undefined;
  const v = scale === 0 ? m : m / POW10[scale];
  return neg ? -v : v;
}

/**
 * Reads `text` into `out`; false when it is not of the shape (then `out` holds nothing usable).
 * Numbers come out exactly as JSON.parse gives them: digits that fit 2^53 scaled by an exact power
 * of ten is one correctly rounded operation; anything longer goes through Number().
 */
export function scanJsonPoints(text: string, out: PointFields): boolean {
  return scanner.scan(text, out);
}

/** One per thread: its state lives in fields, not closures (a closure's context slots cost a third of the scan). */
class Scanner {
  private t = '';
  private i = 0;
  private n = 0;
  private value: unknown;

  scan(text: string, out: PointFields): boolean {
    this.t = text;
    this.i = 0;
    this.n = text.length;
    out.n = 0;
    this.ws();
    const t = this.t;
    if (t.charCodeAt(this.i) === L_BRACKET) {
      this.i++;
      this.ws();
      if (t.charCodeAt(this.i) === R_BRACKET) return false; // the general path says what an empty array is
      for (;;) {
        if (t.charCodeAt(this.i) !== L_BRACE || !this.object(out)) return false;
        this.ws();
        const c = t.charCodeAt(this.i++);
        if (c === COMMA) {
          this.ws();
          continue;
        }
        if (c !== R_BRACKET) return false;
        break;
      }
    } else if (t.charCodeAt(this.i) !== L_BRACE || !this.object(out)) return false;
    this.ws();
    return this.i === this.n;
  }

  private ws(): void {
    const t = this.t;
    let i = this.i;
    while (i < this.n) {
      const c = t.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
    this.i = i;
  }

  /** Past a string's closing quote from its first char; -1 on an escape, a control char or no end. */
  private strEnd(): number {
    const t = this.t;
    let i = this.i;
    while (i < this.n) {
      const c = t.charCodeAt(i);
      if (c === QUOTE) return i + 1;
      if (c === BACKSLASH || c < 0x20) return -1;
      i++;
    }
    return -1;
  }

  /** A point's key from its first char (after the quote). */
  private key(): K {
    const from = this.i;
    const end = this.strEnd();
    if (end < 0) return K.None;
    this.i = end;
    const t = this.t;
    const len = end - 1 - from;
    const c0 = t.charCodeAt(from);
    // The five a point is read by, compared in place; any other key of a point (id, device, …) is
    // looked up in POINT_KEYS, the list the general path goes by.
    if (len === 2 && c0 === 116 && t.charCodeAt(from + 1) === 115) return K.Ts;
    if (len === 3 && c0 === 116 && t.charCodeAt(from + 1) === 97 && t.charCodeAt(from + 2) === 103) return K.Tag;
    if (len === 5 && t.startsWith('value', from)) return K.Value;
    if (len === 7 && t.startsWith('quality', from)) return K.Quality;
    if (len === 4 && t.startsWith('text', from)) return K.Text;
    return POINT_KEYS.has(t.slice(from, end - 1)) ? K.Other : K.None;
  }

  /** A JSON number (strict grammar) into `value`; false when it is not one or is an integer of 16+ digits. */
  private num(): boolean {
    const t = this.t;
    const n = this.n;
    let i = this.i;
    let neg = false;
    if (t.charCodeAt(i) === MINUS) {
      neg = true;
      i++;
    }
    const digitsFrom = i;
    let c = t.charCodeAt(i);
    if (!(c >= ZERO && c <= NINE)) return false;
    let m = 0;
    let digits = 0;
    let intDigits = 0;
    if (c === ZERO) {
      i++;
      intDigits = 1;
    } else {
      while (i < n) {
        c = t.charCodeAt(i);
        if (c < ZERO || c > NINE) break;
        m = m * 10 + (c - ZERO);
        digits++;
        intDigits++;
        i++;
      }
    }
    let scale = 0;
    let fraction = false;
    if (t.charCodeAt(i) === DOT) {
      fraction = true;
      i++;
      const f = i;
      while (i < n) {
        c = t.charCodeAt(i);
        if (c < ZERO || c > NINE) break;
        if (digits > 0 || c !== ZERO) digits++;
        m = m * 10 + (c - ZERO);
        scale++;
        i++;
      }
      if (i === f) return false;
    }
    c = t.charCodeAt(i);
    let exp = 0;
    if (c === 101 || c === 69) {
      fraction = true;
      i++;
      let eneg = false;
      c = t.charCodeAt(i);
      if (c === 43 || c === MINUS) {
        eneg = c === MINUS;
        i++;
      }
      const e = i;
      while (i < n) {
        c = t.charCodeAt(i);
        if (c < ZERO || c > NINE) break;
        exp = exp * 10 + (c - ZERO);
        i++;
        if (exp > 1e6) return false;
      }
      if (i === e) return false;
      if (eneg) exp = -exp;
    }
    // The general path keeps the exact text of an integer of 16+ digits.
    if (!fraction && intDigits >= 16) return false;
    this.i = i;
    const p = exp - scale;
    let v: number;
    if (digits <= 15 && p >= -22 && p <= 22) v = p < 0 ? m / POW10[-p] : m * POW10[p];
    else v = Number(t.slice(digitsFrom, i));
    this.value = neg ? -v : v;
    return true;
  }

  /** A scalar into `value`; false on anything else. */
  private scalar(): boolean {
    const t = this.t;
    const i = this.i;
    const c = t.charCodeAt(i);
    if (c === QUOTE) {
      this.i = i + 1;
      const end = this.strEnd();
      if (end < 0) return false;
      this.value = t.slice(i + 1, end - 1);
      this.i = end;
      return true;
    }
    if (c === MINUS || (c >= ZERO && c <= NINE)) return this.num();
    if (c === 116 && t.startsWith('true', i)) {
      this.i = i + 4;
      this.value = true;
      return true;
    }
    if (c === 102 && t.startsWith('false', i)) {
      this.i = i + 5;
      this.value = false;
      return true;
    }
    if (c === 110 && t.startsWith('null', i)) {
      this.i = i + 4;
      this.value = null;
      return true;
    }
    return false;
  }

  /** A point object at its `{`; appends its fields. */
  private object(out: PointFields): boolean {
    const t = this.t;
    this.i++;
    const k = out.n;
    out.tag[k] = undefined;
    out.value[k] = undefined;
    out.ts[k] = undefined;
    out.quality[k] = undefined;
    out.text[k] = undefined;
    let hasValue = false;
    this.ws();
    if (t.charCodeAt(this.i) === R_BRACE) return false; // {} is not a point
    for (;;) {
      if (t.charCodeAt(this.i) !== QUOTE) return false;
      this.i++;
      const key = this.key();
      if (key === K.None) return false;
      this.ws();
      if (t.charCodeAt(this.i) !== COLON) return false;
      this.i++;
      this.ws();
      if (!this.scalar()) return false;
      // A repeated key: the last one wins, as in JSON.parse.
      switch (key) {
        case K.Tag:
          out.tag[k] = this.value;
          break;
        case K.Value:
          out.value[k] = this.value;
          hasValue = true;
          break;
        case K.Ts:
          out.ts[k] = this.value;
          break;
        case K.Quality:
          out.quality[k] = this.value;
          break;
        case K.Text:
          out.text[k] = this.value;
          break;
      }
      this.ws();
      const c = t.charCodeAt(this.i++);
      if (c === COMMA) {
        this.ws();
        continue;
      }
      if (c !== R_BRACE || !hasValue) return false;
      out.n = k + 1;
      return true;
    }
  }
}

const scanner = new Scanner();
