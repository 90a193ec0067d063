// The run page's evaluation panels once the run has ended: the t-SNE map of its test embeddings and the linear
// probe's confusion matrix (from evaluation.json); a run that did not succeed says why it has neither.

import { api, ApiError } from "./api.js";
import { h, setText } from "./dom.js";
import { STATUS } from "./catalog.js";
import { disposeChart } from "./charts.js";
import { drawConfusion } from "./evaluation.js";
import { TsnePanel } from "./tsne_panel.js";

export class RunEvaluation {
  constructor(runId) {
    this.runId = runId;
    this.alive = true;
    this.tsne = new TsnePanel();
    this.confusionDiv = h("div", { class: "chart chart-square", "data-testid": "confusion-chart", hidden: true });
    this.confusionNote = h(
      "p",
      { class: "muted chart-note", "data-testid": "confusion-note" },
      "The confusion matrix of the linear probe appears when the run has finished.",
    );
  }

  /** Fill both panels for the ended `run`. */
  async load(run, signal) {
    if (run.status !== STATUS.succeeded) {
      // "the run failed", "the run was canceled": the status is the verb.
      const why = `the run ${run.status === STATUS.canceled ? "was canceled" : run.status}`;
      this.tsne.explain(`No t-SNE map: ${why}.`);
      setText(this.confusionNote, `No confusion matrix: ${why}.`);
      return;
    }
    this.loadConfusion(signal);
    try {
      const embedding = await api.embeddings(this.runId, signal);
      if (!this.alive) return;
      await this.tsne.show(embedding);
    } catch (err) {
      if (!this.alive || err.name === "AbortError") return;
      this.tsne.explain(
        err.status === 404 ? "No t-SNE map was recorded for this run." : `Could not load the t-SNE map: ${err.message}`,
      );
    }
  }

  /** The linear probe's confusion matrix from evaluation.json; runs recorded without one say so. */
  async loadConfusion(signal) {
    try {
      const evaluation = await api.artifactJson(this.runId, "evaluation.json", signal);
      if (!this.alive) return;
      if (!evaluation || !Array.isArray(evaluation.confusion_matrix)) throw new ApiError(404, "no matrix");
      this.confusionNote.hidden = true;
      this.confusionDiv.hidden = false;
      await drawConfusion(this.confusionDiv, evaluation);
    } catch (err) {
      if (!this.alive || err.name === "AbortError") return;
      setText(
        this.confusionNote,
        err.status === 404
          ? "No confusion matrix was recorded for this run (runs before evaluation.json existed have none)."
          : `Could not load the confusion matrix: ${err.message}`,
      );
    }
  }

  dispose() {
    this.alive = false;
    this.tsne.dispose();
    disposeChart(this.confusionDiv);
  }
}
