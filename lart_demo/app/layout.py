"""The page: components and which handler each event calls. No logic lives here."""

from __future__ import annotations

import gradio as gr

from lart_demo.app.examples import example_rows
from lart_demo.app.exports_panel import ExportsPanel
from lart_demo.app.handlers import STYLES, VIDEO_EXTENSIONS, Handlers, preview_html
from lart_demo.app.player import SEGMENTS_JS, empty_player_html, player_css, player_js
from lart_demo.app.runner import QUEUE_SIZE, with_zero_gpu
from lart_demo.app.text import (
    CITATION,
    GENERATED_EXAMPLE_LABEL,
    INTRO,
    LINKS,
    TITLE,
    limits_text,
    random_banner,
    weights_panel,
)
from lart_demo.app.upload import video_upload
from lart_demo.config import Settings
from lart_demo.pipeline.request import Runner
from lart_demo.pipeline.run import run_analysis

DELETE_CACHE = (1800, 7200)  # (how often, older than), seconds

# the preview's current time, rounded to 10 ms, for the start/end boxes (runs in the browser)
PREVIEW_TIME_JS = """() => {
  const v = document.querySelector('#lart-preview video');
  return v ? Math.round(v.currentTime * 100) / 100 : null;
}"""


def build_ui(
    settings: Settings, runner: Runner | None = None, queue_size: int = QUEUE_SIZE, fetch_examples: bool = False
) -> gr.Blocks:
    """The whole app. `runner` is the analysis entry point (default: `run_analysis`, on ZeroGPU when available);
    `fetch_examples` fetches the real example clip on first start (app.py sets it; tests stay offline)."""
    handlers = Handlers(settings, runner if runner is not None else with_zero_gpu(run_analysis))
    exports = ExportsPanel(settings, handlers.run_folder)
    examples = example_rows(settings, fetch=fetch_examples)

    # Gradio's own copies of uploads and downloads: every half hour, drop those older than two hours
    with gr.Blocks(title=TITLE, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(INTRO)
        gr.Markdown(LINKS, elem_id="lart-links")
        with gr.Accordion("Cite LART", open=False, elem_id="lart-cite"):
            gr.Markdown(CITATION)
        banner = random_banner(settings)
        gr.Markdown(banner, visible=bool(banner), elem_id="lart-random-banner")
        missing, details = weights_panel(settings)
        with gr.Column(visible=bool(missing), elem_id="lart-weights-missing", variant="panel"):
            gr.Markdown(missing, elem_id="lart-weights-line")
            with gr.Accordion("Details: which files, and where they come from", open=False):
                gr.Markdown(details, elem_id="lart-weights-details")
        with gr.Row(elem_id="lart-runbar", equal_height=True):
            run_btn = gr.Button("Analyze", variant="primary", elem_id="lart-run", scale=0)
            cancel_btn = gr.Button("Cancel", elem_id="lart-cancel", scale=0)
            status = gr.Markdown("", elem_id="lart-status")
        with gr.Row():
            with gr.Column(scale=1, min_width=300, elem_id="lart-inputs"):
                with gr.Tab("Upload"), gr.Column(elem_id="lart-upload"):
                    file_in = video_upload(
                        label=f"Video ({', '.join(e.lstrip('.') for e in VIDEO_EXTENSIONS)}; "
                        f"up to {settings.max_upload_mb:g} MB)",
                        elem_id="lart-file",
                    )
                    preview = gr.HTML("", elem_id="lart-preview", apply_default_css=False)
                    with gr.Row(elem_id="lart-pick"):
                        set_start = gr.Button("Start here", size="sm", elem_id="lart-set-start")
                        set_end = gr.Button("End here", size="sm", elem_id="lart-set-end")
                    gr.Examples(
                        examples=[[str(path)] for path, _ in examples],
                        inputs=[file_in],
                        example_labels=[
                            credit.split(",")[0].replace("*", "") or GENERATED_EXAMPLE_LABEL for _, credit in examples
                        ],
                        label="Examples",
                        cache_examples=False,
                        elem_id="lart-examples",
                    )
                    for _, credit in examples:
                        if credit:
                            gr.Markdown(credit, elem_id="lart-example-credit")
                with gr.Tab("YouTube"):
                    url_in = gr.Textbox(
                        label="YouTube link", placeholder="https://www.youtube.com/watch?v=…", elem_id="lart-url"
                    )
                with gr.Row():
                    start_in = gr.Number(label="Start (s)", value=None, minimum=0, elem_id="lart-start")
                    end_in = gr.Number(label="End (s; 0 = to the end)", value=None, minimum=0, elem_id="lart-end")
                with gr.Accordion("Options", open=False, elem_id="lart-options"):
                    max_people_in = gr.Slider(1, 20, value=settings.max_people, step=1, label="Max people")
                    labels_in = gr.Slider(0, 5, value=settings.labels_per_person, step=1, label="Labels per person")
                    min_prob_in = gr.Slider(
                        0, 1, value=settings.min_label_prob, step=0.05, label="Min label probability"
                    )
                    style_in = gr.Radio(STYLES, value=settings.render_style, label="Render style")
                    blur_in = gr.Checkbox(value=settings.face_blur, label="Blur faces")
                    max_dur_in = gr.Number(
                        value=settings.max_duration_s, label="Max duration (s)", minimum=1, elem_id="lart-max-duration"
                    )
                gr.Markdown(limits_text(settings, queue_size), elem_id="lart-limits")
            with gr.Column(scale=2, min_width=300, elem_id="lart-results"):
                player = gr.HTML(
                    empty_player_html(),
                    elem_id="lart-player",
                    js_on_load=player_js(),
                    css_template=player_css(),
                    apply_default_css=False,
                )
                with gr.Accordion("Find moments", open=True, elem_id="lart-find"):
                    with gr.Row():
                        # choices arrive with each run; the handler checks the values, so a search still works
                        # after a restart, when the server no longer knows the page's updated choices
                        action_in = gr.Dropdown(
                            choices=[], label="Action", elem_id="lart-seg-action", allow_custom_value=True
                        )
                        person_in = gr.Dropdown(
                            choices=["everyone"],
                            value="everyone",
                            label="Person",
                            elem_id="lart-seg-person",
                            allow_custom_value=True,
                        )
                        threshold_in = gr.Slider(
                            0.05, 0.95, value=0.5, step=0.05, label="Threshold", elem_id="lart-seg-threshold"
                        )
                    search_btn = gr.Button("Search", elem_id="lart-seg-search")
                    segments = gr.HTML("", elem_id="lart-segments", js_on_load=SEGMENTS_JS, apply_default_css=False)
                with gr.Accordion("3D view", open=True, elem_id="lart-3d-panel"):
                    view3d = gr.Model3D(label="The scrubbed frame in 3D (drag to orbit)", elem_id="lart-3d", height=420)
                    view3d_frame = gr.Slider(
                        0, 1, value=0, step=1, label="Frame (follows the player's scrubber)", elem_id="lart-3d-frame"
                    )
                    view3d_caption = gr.Markdown("", elem_id="lart-3d-caption")
                    glb_download = gr.DownloadButton("Download GLB of this frame", elem_id="lart-3d-download")
                with gr.Accordion("Highlight clip", open=False, elem_id="lart-highlight-panel"):
                    event_in = gr.Dropdown(choices=[], label="Event (from events.json)", elem_id="lart-event")
                    highlight_btn = gr.Button("Make highlight clip", elem_id="lart-highlight-make")
                    highlight_note = gr.Markdown("", elem_id="lart-highlight-note")
                    highlight_video = gr.Video(label="Highlight (H.264)", elem_id="lart-highlight", interactive=False)
                # the files as the API returns them; people download from the player's links
                downloads = gr.File(label="Downloads", file_count="multiple", visible=False)
                run_dir = gr.Textbox(visible=False)

        inputs = [
            file_in,
            url_in,
            start_in,
            end_in,
            max_people_in,
            labels_in,
            min_prob_in,
            style_in,
            blur_in,
            max_dur_in,
        ]
        run_btn.click(
            handlers.analyze,
            inputs=inputs,
            outputs=[status, player, downloads, action_in, person_in, run_dir],
            api_name="analyze",
            concurrency_id="gpu",
            concurrency_limit=1,
            show_progress_on=[status],
        ).then(
            exports.after_run,
            inputs=[run_dir],
            outputs=[view3d_frame, view3d, glb_download, event_in, view3d_caption, highlight_video],
            api_visibility="private",
        )
        view3d_frame.change(
            exports.frame_view,
            inputs=[run_dir, view3d_frame],
            outputs=[view3d, glb_download, view3d_caption],
            trigger_mode="always_last",
            api_visibility="private",
        )
        highlight_btn.click(
            exports.highlight,
            inputs=[run_dir, event_in],
            outputs=[highlight_video, highlight_note],
            api_visibility="private",
        )
        # no `cancels=` on the run event: closing its handler would drop the final status; the run ends itself
        cancel_btn.click(handlers.cancel, queue=False, api_visibility="private")
        file_in.change(preview_html, inputs=[file_in], outputs=[preview], queue=False, api_visibility="private")
        set_start.click(None, outputs=[start_in], js=PREVIEW_TIME_JS, api_visibility="private")
        set_end.click(None, outputs=[end_in], js=PREVIEW_TIME_JS, api_visibility="private")
        search_btn.click(
            handlers.search,
            inputs=[run_dir, action_in, person_in, threshold_in],
            outputs=[segments],
            api_name="segments",
            concurrency_limit=None,
        )
    demo.queue(max_size=queue_size)
    return demo
