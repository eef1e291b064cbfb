"""The participant page: consent -> instructions -> trials -> completion code.

Reached as ``/study?study=<id>&PROLIFIC_PID=...&STUDY_ID=...&SESSION_ID=...`` (a separate Blocks
mounted at ``/study`` by :mod:`studio.server`). Every action goes through
:class:`~studio.study.service.StudyService`, exactly as the JSON API does, so the page and scripted
clients behave the same (new participants are rate limited per client address there too: over the
limit the page says when to try again). The page keeps only the signed session token in a
``gr.State``; reloading the link resumes where the participant was: consent and the instructions
are recorded on the server as events, so a reload after them (even before the first answer) does
not ask again.

The answer controls unlock when every clip of the screen has played to its end (the video ``end``
event, recorded as an ``ended`` event); the store refuses answers without those events anyway.
Clips are labelled "Left"/"Right" or "Clip 1..K" only; nothing on the page names a model. Every
event handler is closed to the Gradio API (``api_visibility="private"``).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import gradio as gr

from studio.security.clients import request_client
from studio.security.files import CACHE_LIFETIME_S
from studio.study.definition import MAX_RANK_MODELS
from studio.study.service import ServiceError, SessionView, StudyService

TITLE = "Study"
CSS = """
gradio-app { width: 100%; }  /* otherwise a short screen (the completion code) shrinks the page */
.gradio-container { width: 100% !important; max-width: 1100px !important; margin: 0 auto !important; }
/* clips share a row equally and wrap (stack) on narrow screens instead of squeezing */
.study-clip-col { flex: 1 1 0 !important; min-width: min(240px, 100%) !important; }
.study-clip-col video { max-height: 420px; object-fit: contain; }
#study-prompt { font-size: 1.25em; }
#study-prompt p { border-left: 4px solid var(--color-accent); padding: 0.4em 0.8em; margin: 0.2em 0; }
.study-note { color: var(--body-text-color-subdued); }
#study-code code { font-size: 1.6em; letter-spacing: 0.08em; }
footer { display: none !important; }
"""
SLOTS = MAX_RANK_MODELS  # the most clips a screen can show
UNLOCK_HINT = "Play every clip to the end; the answer unlocks after that."
_PRIVATE: dict[str, Any] = {"api_visibility": "private", "concurrency_limit": None}


def _panel(visible: bool) -> dict[str, Any]:
    return gr.update(visible=visible)


class _Played:
    """Which clips of a participant's current screen have played to the end (by token and trial).

    Kept on the server, not in ``gr.State``: two videos ending together run their handlers
    concurrently, and a read-modify-write of session state would lose one of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended: dict[tuple[str, int], set[int]] = {}

    def add(self, token: str, trial_id: int, clip: int) -> int:
        with self._lock:
            clips = self._ended.setdefault((token, trial_id), set())
            clips.add(clip)
            return len(clips)

    def forget(self, token: str, trial_id: int | None) -> None:
        with self._lock:
            self._ended.pop((token, trial_id or -1), None)


def build_study_page(service: StudyService | None, unavailable: str | None = None) -> gr.Blocks:
    """The participant page. ``service`` None: the page shows ``unavailable`` (e.g. no study secret
    configured) and does nothing else."""
    played = _Played()
    blocks = gr.Blocks(title=TITLE, analytics_enabled=False, fill_width=True, delete_cache=CACHE_LIFETIME_S)
    with blocks as page:
        token = gr.State(None)  # the signed session token; nothing else about the participant
        current = gr.State(None)  # {"trial_id": int, "k": int, "type": str} of the screen shown

        with gr.Column(visible=True) as loading_box:
            gr.Markdown("Loading the study…", elem_classes="study-note")
        with gr.Column(visible=False) as error_box:
            error_md = gr.Markdown()
        with gr.Column(visible=False) as consent_box:
            gr.Markdown("## Before you start")
            consent_md = gr.Markdown()
            with gr.Row():
                consent_btn = gr.Button("I agree and want to take part", variant="primary")
                decline_btn = gr.Button("I do not want to take part", variant="secondary")
        with gr.Column(visible=False) as instructions_box:
            gr.Markdown("## Instructions")
            instructions_md = gr.Markdown()
            start_btn = gr.Button("Start", variant="primary")
        with gr.Column(visible=False) as trial_box:
            progress_md = gr.Markdown(elem_classes="study-note")
            prompt_md = gr.Markdown(elem_id="study-prompt")
            question_md = gr.Markdown()
            columns, videos = [], []
            with gr.Row(equal_height=True):
                for i in range(SLOTS):
                    with gr.Column(visible=False, min_width=240, elem_classes="study-clip-col") as column:
                        videos.append(
                            gr.Video(
                                label=f"Clip {i + 1}",
                                interactive=False,
                                autoplay=False,
                                loop=False,
                                buttons=[],
                                include_audio=False,
                                elem_classes="study-clip",
                            )
                        )
                    columns.append(column)
            hint_md = gr.Markdown(UNLOCK_HINT, elem_classes="study-note", elem_id="study-hint")
            with gr.Row():
                ranks = [
                    gr.Dropdown(
                        label=f"Rank of clip {i + 1}",
                        choices=[],
                        visible=False,
                        interactive=False,
                        min_width=120,
                        elem_classes="study-rank",
                    )
                    for i in range(SLOTS)
                ]
            choice = gr.Radio(
                label="Your answer", choices=[], visible=False, interactive=False, elem_id="study-choice"
            )
            submit_btn = gr.Button(
                "Submit answer", variant="primary", interactive=False, elem_id="study-submit"
            )
            message_md = gr.Markdown(elem_id="study-message")
        with gr.Column(visible=False) as done_box:
            done_md = gr.Markdown(elem_id="study-code")

        boxes = [loading_box, error_box, consent_box, instructions_box, trial_box, done_box]
        trial_outputs = [
            progress_md,
            prompt_md,
            question_md,
            hint_md,
            choice,
            submit_btn,
            message_md,
            current,
            *columns,
            *videos,
            *ranks,
        ]
        everything = [*boxes, error_md, consent_md, instructions_md, done_md, token, *trial_outputs]

        def show(box: gr.Column) -> dict[Any, Any]:
            return {b: _panel(b is box) for b in boxes}

        def failure(error: ServiceError) -> dict[Any, Any]:
            return show(error_box) | {error_md: f"### Sorry\n{error.message}"}

        def render_trial(view: SessionView, tok: str, message: str = "") -> dict[Any, Any]:
            """The screen of ``view.trial`` (or the completion code); records ``shown`` for dwell time."""
            if view.trial is None:
                return finish(view)
            trial = view.trial
            assert service is not None
            service.record_event(tok, "shown", trial_id=trial.trial_id)
            played.forget(tok, trial.trial_id)
            k = len(trial.clips)
            out = show(trial_box)
            out.update(
                {
                    token: tok,
                    current: {"trial_id": trial.trial_id, "k": k, "type": trial.trial_type},
                    progress_md: f"Screen {trial.number} of {trial.total}",
                    prompt_md: trial.prompt,
                    question_md: f"**{trial.question}**",
                    hint_md: UNLOCK_HINT,
                    message_md: message,
                    submit_btn: gr.update(interactive=False),
                }
            )
            for i in range(SLOTS):
                clip = trial.clips[i] if i < k else None
                out[columns[i]] = _panel(clip is not None)
                out[videos[i]] = (
                    gr.update(value=str(clip.path), label=clip.label) if clip else gr.update(value=None)
                )
                rank_visible = trial.trial_type == "rank" and clip is not None
                out[ranks[i]] = gr.update(
                    visible=rank_visible,
                    interactive=False,
                    value=None,
                    choices=[value for value, _ in trial.options] if rank_visible else [],
                    label=f"Rank of {clip.label}" if clip else "",
                )
            two_clip = trial.trial_type != "rank"
            out[choice] = gr.update(
                visible=two_clip,
                interactive=False,
                value=None,
                choices=[(label, value) for value, label in trial.options] if two_clip else [],
            )
            return out

        def finish(view: SessionView) -> dict[Any, Any]:
            code = view.completion_code or ""
            text = (
                "## Thank you!\nAll your answers are saved.\n\nYour completion code:\n\n"
                f"`{code}`\n\n[Return to Prolific with this code]({view.completion_url})"
            )
            return show(done_box) | {done_md: text}

        def on_load(request: gr.Request) -> dict[Any, Any]:
            if service is None:
                return show(error_box) | {error_md: f"### Studies are not available\n{unavailable or ''}"}
            params = dict(request.query_params)
            client = request_client(request, service.trusted_proxy_hops)
            try:
                view = service.start(params.get("study"), params, client=client)
                base = {token: view.token, consent_md: view.consent, instructions_md: view.instructions}
                if view.trial is None:
                    return base | finish(view)
                if view.instructed:  # consent and instructions are on record: straight back in
                    welcome = "Welcome back: you continue where you left off."
                    return base | render_trial(view, view.token, welcome)
                if view.consented:
                    return base | show(instructions_box)
            except ServiceError as error:
                return failure(error)
            return base | show(consent_box)

        def on_consent(tok: str) -> dict[Any, Any]:
            try:
                service.record_event(tok, "consent")
            except ServiceError as error:
                return failure(error)
            return show(instructions_box)

        def on_decline() -> dict[Any, Any]:
            text = (
                "### Thank you for considering the study\nNo answers were recorded. "
                "Please return your submission on Prolific; you can close this page."
            )
            return show(error_box) | {error_md: text}

        def on_start(tok: str) -> dict[Any, Any]:
            try:
                service.record_event(tok, "instructions")
                return render_trial(service.current(tok), tok)
            except ServiceError as error:
                return failure(error)

        def on_play(slot: int):
            def handler(tok: str, cur: dict[str, Any] | None) -> None:
                if tok and cur and slot < cur["k"]:
                    # a lost play event costs nothing: answers depend on 'ended' events only
                    with contextlib.suppress(ServiceError):
                        service.record_event(tok, "play", trial_id=cur["trial_id"], clip=slot)

            return handler

        def on_ended(slot: int):
            def handler(tok: str, cur: dict[str, Any] | None) -> dict[Any, Any]:
                if not tok or not cur or slot >= cur["k"]:
                    return {hint_md: gr.update()}
                try:
                    service.record_event(tok, "ended", trial_id=cur["trial_id"], clip=slot)
                except ServiceError as error:
                    return {message_md: error.message}
                done = played.add(tok, cur["trial_id"], slot)
                if done < cur["k"]:
                    return {hint_md: f"{done} of {cur['k']} clips played to the end. {UNLOCK_HINT}"}
                unlock = gr.update(interactive=True)
                out = {hint_md: "All clips played. Choose your answer and submit.", submit_btn: unlock}
                if cur["type"] == "rank":
                    out.update({ranks[i]: unlock for i in range(cur["k"])})
                else:
                    out[choice] = unlock
                return out

            return handler

        def on_submit(
            tok: str, cur: dict[str, Any] | None, choice_value: Any, *rank_values: Any
        ) -> dict[Any, Any]:
            if not tok or not cur:
                return {message_md: "Please reload the page."}
            if cur["type"] == "rank":
                chosen = [rank_values[i] for i in range(cur["k"])]
                if any(v in (None, "") for v in chosen):
                    return {message_md: "Please give every clip a rank."}
                ranking = [int(v) for v in chosen]
                if len(set(ranking)) != len(ranking):
                    return {message_md: "Please use each rank once (1 = best)."}
                payload: dict[str, Any] = {"ranking": ranking}
            else:
                if not choice_value:
                    return {message_md: "Please choose an answer."}
                payload = {"choice": choice_value}
            try:
                view = service.submit_answer(tok, cur["trial_id"], payload)
            except ServiceError as error:
                if error.code != "answer.replayed":
                    return {message_md: error.message}
                try:  # answered already (e.g. a double click): move on to where the store says
                    view = service.current(tok)
                except ServiceError as again:
                    return failure(again)
            played.forget(tok, cur["trial_id"])
            try:
                return render_trial(view, tok)
            except ServiceError as error:
                return failure(error)

        page.load(on_load, None, everything, **_PRIVATE)
        consent_btn.click(on_consent, token, everything, **_PRIVATE)
        decline_btn.click(on_decline, None, everything, **_PRIVATE)
        start_btn.click(on_start, token, everything, **_PRIVATE)
        for i, video in enumerate(videos):
            video.play(on_play(i), [token, current], None, show_progress="hidden", **_PRIVATE)
            video.end(on_ended(i), [token, current], everything, show_progress="hidden", **_PRIVATE)
        submit_btn.click(on_submit, [token, current, choice, *ranks], everything, **_PRIVATE)
    return page
