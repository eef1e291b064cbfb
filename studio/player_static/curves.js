// The curve strip under the panels: a few coefficient curves per panel and one playhead.
//
// The curves are drawn once into an offscreen canvas; each update copies that and draws the
// playhead, so following the player costs one image copy per frame.

export const CURVE_COLOURS = ["#f6c85f", "#6fb1e8", "#9dd866", "#ef8a62"];
const MARGIN = 8; // pixels between a panel's edge and its plot
const N_SHAPES = 52; // the columns before the head and eye rotations

export class CurveStrip {
  /**
   * @param {HTMLCanvasElement} canvas the visible strip, as wide as all panels together
   * @param {object} options
   *   panelWidth: pixels per panel; height: pixels;
   *   panels: [{values: Float32Array (nFrames * nChannels) | null, nFrames}];
   *   channels: the column names; curves: the names to plot (at most 4);
   *   duration: seconds the strip spans (the player's last frame time); fps: frames per second.
   */
  constructor(canvas, { panelWidth, height, panels, channels, curves, duration, fps }) {
    this.canvas = canvas;
    this.panelWidth = panelWidth;
    this.duration = duration;
    this.fps = fps;
    this.panels = panels;
    canvas.width = panelWidth * panels.length;
    canvas.height = height;
    this.background = document.createElement("canvas");
    this.background.width = canvas.width;
    this.background.height = height;
    this.playheadSeconds = 0;
    this.drawCurves(channels, curves);
    this.update(0);
  }

  /** The plot area of panel `i`: [x0, width] in pixels. */
  span(i) {
    return [i * this.panelWidth + MARGIN, this.panelWidth - 2 * MARGIN];
  }

  drawCurves(channels, curves) {
    const ctx = this.background.getContext("2d");
    const { width, height } = this.background;
    ctx.fillStyle = "#23252a";
    ctx.fillRect(0, 0, width, height);
    const columns = curves.map((name) => channels.indexOf(name));
    const nChannels = channels.length;
    const top = 6;
    const plotHeight = height - 2 * top;
    this.panels.forEach((panel, i) => {
      const [x0, w] = this.span(i);
      ctx.strokeStyle = "#3a3d44";
      ctx.strokeRect(x0 + 0.5, top + 0.5, w - 1, plotHeight - 1);
      if (!panel.values) return;
      columns.filter((column) => column >= 0).forEach((column, c) => {
        ctx.strokeStyle = CURVE_COLOURS[c % CURVE_COLOURS.length];
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        for (let f = 0; f < panel.nFrames; f++) {
          // blendshape weights are in [0, 1]: the plot's bottom and top; rotations (radians,
          // the columns from N_SHAPES on) are signed: -1..1 rad spans the plot
          const x = panel.values[f * nChannels + column];
          const v = Math.min(1, Math.max(0, column >= N_SHAPES ? (x + 1) / 2 : x));
          const px = x0 + this.timeToFraction(f / this.fps) * w;
          const py = top + (1 - v) * plotHeight;
          if (f === 0) ctx.moveTo(px, py);
          else ctx.lineTo(px, py);
        }
        ctx.stroke();
      });
    });
  }

  timeToFraction(t) {
    return this.duration > 0 ? Math.min(1, Math.max(0, t / this.duration)) : 0;
  }

  /** Draw the playhead at `time` seconds in every panel's plot. */
  update(time) {
    const ctx = this.canvas.getContext("2d");
    ctx.drawImage(this.background, 0, 0);
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 1;
    let x = 0;
    for (let i = 0; i < this.panels.length; i++) {
      const [x0, w] = this.span(i);
      x = Math.round(x0 + this.timeToFraction(time) * w) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, 0);
      ctx.lineTo(x, this.canvas.height);
      ctx.stroke();
    }
    // what the drawn line says, read back from its pixel column in the first panel
    const [x0, w] = this.span(0);
    this.playheadSeconds = ((Math.round(x0 + this.timeToFraction(time) * w) - x0) / w) * this.duration;
  }
}
