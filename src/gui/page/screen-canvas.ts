/**
 * The guest's screen on the page's canvas: text mode drawn cell by cell in the VGA's code page,
 * graphics modes as pixels. The same text goes into an off-screen element for screen readers,
 * copying and tests.
 */

// Code page 437 as the VGA's font draws it.
const CP437 = Array.from(
  "\u00a0☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼" +
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_" +
    "\u0060abcdefghijklmnopqrstuvwxyz{|}~⌂" +
    "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»" +
    "░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" +
    "αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0",
);

const CELL_W = 9;
const CELL_H = 16;
const FONT = "15px 'DejaVu Sans Mono', ui-monospace, monospace";

function rgb(bytes: Uint8Array, at: number): string {
  return `rgb(${bytes[at]},${bytes[at + 1]},${bytes[at + 2]})`;
}

export class ScreenCanvas {
  private readonly ctx: CanvasRenderingContext2D;
  private image: ImageData | null = null;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly screenText: HTMLElement,
  ) {
    this.ctx = canvas.getContext("2d", { alpha: false })!;
  }

  drawText(dv: DataView, bytes: Uint8Array): void {
    const { canvas, ctx } = this;
    const cols = dv.getUint16(1, true);
    const rows = dv.getUint16(3, true);
    const crow = dv.getUint16(5, true);
    const ccol = dv.getUint16(7, true);
    const cvis = bytes[9] === 1;
    const n = cols * rows;
    const chars = 10;
    const fg = 10 + n;
    const bg = 10 + 4 * n;
    if (canvas.width !== cols * CELL_W || canvas.height !== rows * CELL_H) {
      canvas.width = cols * CELL_W;
      canvas.height = rows * CELL_H;
    }
    this.image = null;
    ctx.textBaseline = "top";
    ctx.font = FONT;
    const lines: string[] = [];
    for (let r = 0; r < rows; r++) {
      let line = "";
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const ch = CP437[bytes[chars + i]];
        ctx.fillStyle = rgb(bytes, bg + 3 * i);
        ctx.fillRect(c * CELL_W, r * CELL_H, CELL_W, CELL_H);
        if (ch !== "\u00a0" && ch !== " ") {
          ctx.fillStyle = rgb(bytes, fg + 3 * i);
          ctx.fillText(ch, c * CELL_W, r * CELL_H + 1, CELL_W);
        }
        line += ch === "\u00a0" ? " " : ch;
      }
      lines.push(line.replace(/\s+$/, ""));
    }
    if (cvis && crow < rows && ccol < cols) {
      ctx.fillStyle = rgb(bytes, fg + 3 * (crow * cols + ccol));
      ctx.fillRect(ccol * CELL_W, crow * CELL_H + CELL_H - 3, CELL_W, 2);
    }
    this.screenText.textContent = lines.join("\n");
    canvas.dataset.mode = "text";
  }

  drawGraphics(dv: DataView, bytes: Uint8Array): void {
    const { canvas, ctx } = this;
    const w = dv.getUint16(1, true);
    const h = dv.getUint16(3, true);
    const y = dv.getUint16(5, true);
    if (!this.image || this.image.width !== w || this.image.height !== h) {
      canvas.width = w;
      canvas.height = h;
      this.image = ctx.createImageData(w, h);
      this.screenText.textContent = "";
    }
    const rgba = bytes.subarray(7);
    const rowsIn = Math.min(h - y, Math.floor(rgba.length / (w * 4)));
    this.image.data.set(rgba.subarray(0, rowsIn * w * 4), y * w * 4);
    ctx.putImageData(this.image, 0, 0, 0, y, w, rowsIn);
    canvas.dataset.mode = "graphical";
  }
}
