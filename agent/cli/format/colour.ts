/** ANSI colours, applied only when the caller decided colour is on (see useColour). */
export interface Palette {
  green(s: string): string;
  red(s: string): string;
  bold(s: string): string;
  dim(s: string): string;
}

const wrap = (code: string) => (s: string) => `\u001b[${code}m${s}\u001b[0m`;

export const COLOUR: Palette = { green: wrap('32'), red: wrap('31'), bold: wrap('1'), dim: wrap('2') };
export const PLAIN: Palette = { green: (s) => s, red: (s) => s, bold: (s) => s, dim: (s) => s };

export function palette(colour: boolean): Palette {
  return colour ? COLOUR : PLAIN;
}
