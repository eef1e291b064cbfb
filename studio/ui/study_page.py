"""The participant page: consent -> instructions -> trials -> completion code.

Reached as ``/study?study=<id>&PROLIFIC_PID=...&STUDY_ID=...&SESSION_ID=...`` (a separate Blocks
mounted at ``/study`` by :mod:`studio.server`). Every action goes through
:class:`~studio.study.service.StudyService`, exactly as the JSON API does, so the page and scripted
clients behave the same (new participants are rate limited per client address there too: over the
limit the page says when to try again). The page keeps only the signed session token in a
``gr.State`` (with whether it is a preview and a key for the played clips); reloading the link
resumes where the participant was: consent and the instructions
are recorded on the server as events, so a reload after them (even before the first answer) does
not ask again.

The answer controls unlock when every clip of the screen has played to its end (the video ``end``
event, recorded as an ``ended`` event); the store refuses answers without those events anyway.
Clips are labelled "Left"/"Right" or "Clip 1..K" only; nothing on the page names a model. Every
event handler is closed to the Gradio API (``api_visibility="private"``).

Layout: each clip's rank sits under the clip. On a phone (up to 640 px wide) clips are two to a
row, so four clips form a 2x2 grid with the prompt above and every rank in the first screen.

Preview: ``/study?study=<id>&preview=<token>``, a link from the admin page
(:class:`~studio.study.admin.StudyPreviews`), shows the same screens under a banner saying answers
are not saved; its actions go to :class:`~studio.study.admin.ParticipantPreview`, which stores
nothing (no participant, no assignment slot, no events, no answers).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Mapping
from typing import Any

import gradio as gr

from studio.security.clients import request_client
from studio.security.files import CACHE_LIFETIME_S
from studio.study.admin import ParticipantPreview, previews_for
from studio.study.definition import MAX_RANK_MODELS
from studio.study.service import ServiceError, SessionView, StudyService

TITLE = "Study"
CSS = """
gradio-app { width: 100%; }  /* otherwise a short screen (the completion code) shrinks the page */
.gradio-container { width: 100% !important; max-width: 1100px !important; margin: 0 auto !important; }
/* clips share a row equally, each with its rank under it, and wrap on narrow screens */
.study-clips { flex-wrap: wrap !important; gap: 12px !important; }
.study-clip-col { flex: 1 1 0 !important; min-width: min(240px, 100%) !important; gap: 6px !important; }
.study-clip-col video { max-height: 420px; object-fit: contain; }
#study-prompt { font-size: 1.25em; }
#study-prompt p { border-left: 4px solid var(--color-accent); padding: 0.4em 0.8em; margin: 0.2em 0; }
.study-note { color: var(--body-text-color-subdued); }
#study-code code { font-size: 1.6em; letter-spacing: 0.08em; }
#study-preview { background: #fff4d6; border: 2px dashed #c98a00; border-radius: 8px; padding: 0.3em 0.8em; }
#study-preview p { margin: 0; color: #5c3d00; }
footer { display: none !important; }
/* Gradio pads the page 16 px / 32 px; narrow screens get less (a rule outside the @media below:
   Gradio scopes rules inside @media to the app's content, and this element is outside it) */
.gradio-container .main.app { padding: clamp(8px, 2vw, 16px) clamp(10px, 5vw - 10px, 32px) !important; }
/* a phone: two clips to a row (four make a 2x2 grid) and less chrome, so the prompt, every clip
   and its rank fit the first screen of a 390x844 viewport */
@media (max-width: 640px) {
  .study-clips { gap: 8px !important; }
  .study-clip-col { flex: 0 0 calc(50% - 4px) !important; min-width: 0 !important; }
  .study-clip-col { max-width: calc(50% - 4px); }
  .study-clip-col video { max-height: 40vh; }
  /* each rank on one line with its label (Gradio's dropdown markup: a label span, then the input) */
  .study-rank { padding: 4px 6px !important; }
  .study-rank .container { display: flex !important; align-items: center; gap: 4px; }
  .study-rank .container > span { margin: 0 !important; font-size: 0.78em; white-space: nowrap; }
  .study-rank .container > .wrap { flex: 1 1 0; min-width: 44px; }
  #study-prompt { font-size: 1.05em; }
  #study-progress p, #study-question p, #study-hint p { margin: 0; font-size: 0.9em; }
}
"""
SLOTS = MAX_RANK_MODELS  # the most clips a screen can show
UNLOCK_HINT = "Play every clip to the end; the answer unlocks after that."
PLAYED_HINT = "The answer unlocks after all."  # short: one line on a phone
PREVIEW_BANNER = (
    "**Preview — answers are not saved.** This is what a participant sees; nothing you do here is stored."
)
_PRIVATE: dict[str, Any] = {"api_visibility": "private", "concurrency_limit": None}


def _panel(visible: bool) -> dict[str, Any]:
    return gr.update(visible=visible)


class _Played:
    """Which clips of a participant's current screen have played to the end (by session key and
    trial). Kept on the server, not in ``gr.State``: two videos ending together run their handlers
    concurrently, and a read-modify-write of session state would lose one of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended: dict[tuple[str, int], set[int]] = {}

    def add(self, key: str, trial_id: int, clip: int) -> int:
        with self._lock:
            clips = self._ended.setdefault((key, trial_id), set())
            clips.add(clip)
            return len(clips)

    def forget(self, key: str, trial_id: int | None) -> None:
        with self._lock:
            self._ended.pop((key, trial_id or -1), None)


class _Live:
    """A participant's session: every action goes to the :class:`StudyService` and is stored."""

    preview = False

    def __init__(self, service: StudyService) -> None:
        self.service = service

    def start(self, params: Mapping[str, Any], client: str) -> SessionView:
        return self.service.start(params.get("study"), params, client=client)

    def current(self, token: str) -> SessionView:
        return self.service.current(token)

    def event(self, token: str, kind: str, trial_id: int | None = None, clip: int | None = None) -> None:
        self.service.record_event(token, kind, trial_id=trial_id, clip=clip)

    def submit(self, token: str, trial_id: int, payload: dict[str, Any]) -> SessionView:
        try:
            return self.service.submit_answer(token, trial_id, payload)
        except ServiceError as error:
            if error.code != "answer.replayed":
                raise
            return self.service.current(token)  # answered already (a double click): where the store says


class _Preview:
    """An admin's preview link: the same screens, nothing stored (:class:`ParticipantPreview`)."""

    preview = True

    def __init__(self, preview: ParticipantPreview) -> None:
        self.actions = preview

    def start(self, params: Mapping[str, Any], client: str) -> SessionView:
        return self.actions.start(params.get("study"), params.get("preview"))

    def current(self, token: str) -> SessionView:
        return self.actions.start(None, token)  # no progress is kept before the first answer

    def event(self, token: str, kind: str, trial_id: int | None = None, clip: int | None = None) -> None:
        self.actions.check(token)  # an expired link stops here as it would for a participant

    def submit(self, token: str, trial_id: int, payload: dict[str, Any]) -> SessionView:
        return self.actions.submit_answer(token, trial_id, payload)


def build_study_page(service: StudyService | None, unavailable: str | None = None) -> gr.Blocks:
    """The participant page. ``service`` None: the page shows ``unavailable`` (e.g. no study secret
    configured) and does nothing else. A ``preview`` query value makes it a preview (module doc)."""
    played = _Played()
    live = None if service is None else _Live(service)

    def previewer() -> _Preview | None:
        previews = None if service is None else previews_for(service.store)
        return None if previews is None else _Preview(ParticipantPreview(service, previews))

    blocks = gr.Blocks(title=TITLE, analytics_enabled=False, fill_width=True, delete_cache=CACHE_LIFETIME_S)
    with blocks as page:
        # {"token": the signed token, "preview": bool, "key": of the played clips}; nothing else
        token = gr.State(None)
        current = gr.State(None)  # {"trial_id": int, "k": int, "type": str} of the screen shown

        banner_md = gr.Markdown(PREVIEW_BANNER, visible=False, elem_id="study-preview")
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
            progress_md = gr.Markdown(elem_classes="study-note", elem_id="study-progress")
            prompt_md = gr.Markdown(elem_id="study-prompt")
            question_md = gr.Markdown(elem_id="study-question")
            columns, videos, ranks = [], [], []
            with gr.Row(equal_height=False, elem_classes="study-clips"):
                for i in range(SLOTS):
                    with gr.Column(visible=False, min_width=0, elem_classes="study-clip-col") as column:
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
                        ranks.append(
                            gr.Dropdown(
                                label=f"Rank of clip {i + 1}",
                                choices=[],
                                visible=False,
                                interactive=False,
                                min_width=0,
                                elem_classes="study-rank",
                            )
                        )
                    columns.append(column)
            hint_md = gr.Markdown(UNLOCK_HINT, elem_classes="study-note", elem_id="study-hint")
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
        everything = [
            *boxes,
            banner_md,
            error_md,
            consent_md,
            instructions_md,
            done_md,
            token,
            *trial_outputs,
        ]

        def backend(session: dict[str, Any] | None) -> _Live | _Preview:
            found = previewer() if session and session["preview"] else live
            if found is None:  # previews were switched off since the page loaded
                raise ServiceError(403, "preview.off", "Previews are not available on this server.")
            return found

        def show(box: gr.Column) -> dict[Any, Any]:
            return {b: _panel(b is box) for b in boxes}

        def failure(error: ServiceError) -> dict[Any, Any]:
            return show(error_box) | {error_md: f"### Sorry\n{error.message}"}

        def render_trial(view: SessionView, session: dict[str, Any], message: str = "") -> dict[Any, Any]:
            """The screen of ``view.trial`` (or the completion code); records ``shown`` for dwell time."""
            if view.trial is None:
                return finish(view, session)
            trial = view.trial
            backend(session).event(session["token"], "shown", trial_id=trial.trial_id)
            played.forget(session["key"], trial.trial_id)
            k = len(trial.clips)
            out = show(trial_box)
            out.update(
                {
                    token: session,
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

        def finish(view: SessionView, session: dict[str, Any]) -> dict[Any, Any]:
            if session["preview"]:
                text = (
                    "## End of the preview\nA participant would now read “Thank you! All your answers "
                    "are saved.”, their completion code and a link back to Prolific. Nothing was saved."
                )
                return show(done_box) | {done_md: text}
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
            is_preview = "preview" in params
            out: dict[Any, Any] = {banner_md: _panel(False)}
            try:
                found = backend({"preview": is_preview})
                view = found.start(params, request_client(request, service.trusted_proxy_hops))
                out[banner_md] = _panel(is_preview)  # a preview that opened: marked on every screen
                # the key of this page's played clips: a preview link opened twice is two previews
                key = secrets.token_hex(8) if is_preview else view.token
                session = {"token": view.token, "preview": is_preview, "key": key}
                out |= {token: session, consent_md: view.consent, instructions_md: view.instructions}
                if view.trial is None:
                    return out | finish(view, session)
                if view.instructed:  # consent and instructions are on record: straight back in
                    welcome = "Welcome back: you continue where you left off."
                    return out | render_trial(view, session, welcome)
                if view.consented:
                    return out | show(instructions_box)
            except ServiceError as error:
                return out | failure(error)
            return out | show(consent_box)

        def on_consent(session: dict[str, Any] | None) -> dict[Any, Any]:
            try:
                if session is None:
                    raise ServiceError(401, "bad_token", "Please reload the page.")
                backend(session).event(session["token"], "consent")
            except ServiceError as error:
                return failure(error)
            return show(instructions_box)

        def on_decline() -> dict[Any, Any]:
            text = (
                "### Thank you for considering the study\nNo answers were recorded. "
                "Please return your submission on Prolific; you can close this page."
            )
            return show(error_box) | {error_md: text}

        def on_start(session: dict[str, Any] | None) -> dict[Any, Any]:
            try:
                if session is None:
                    raise ServiceError(401, "bad_token", "Please reload the page.")
                found = backend(session)
                found.event(session["token"], "instructions")
                return render_trial(found.current(session["token"]), session)
            except ServiceError as error:
                return failure(error)

        def on_play(slot: int):
            def handler(session: dict[str, Any] | None, cur: dict[str, Any] | None) -> None:
                if session and cur and slot < cur["k"]:
                    # a lost play event costs nothing: answers depend on 'ended' events only
                    with contextlib.suppress(ServiceError):
                        backend(session).event(session["token"], "play", trial_id=cur["trial_id"], clip=slot)

            return handler

        def on_ended(slot: int):
            def handler(session: dict[str, Any] | None, cur: dict[str, Any] | None) -> dict[Any, Any]:
                if not session or not cur or slot >= cur["k"]:
                    return {hint_md: gr.update()}
                try:
                    backend(session).event(session["token"], "ended", trial_id=cur["trial_id"], clip=slot)
                except ServiceError as error:
                    return {message_md: error.message}
                done = played.add(session["key"], cur["trial_id"], slot)
                if done < cur["k"]:
                    return {hint_md: f"{done} of {cur['k']} clips played to the end. {PLAYED_HINT}"}
                unlock = gr.update(interactive=True)
                out = {hint_md: "All clips played. Choose your answer and submit.", submit_btn: unlock}
                if cur["type"] == "rank":
                    out.update({ranks[i]: unlock for i in range(cur["k"])})
                else:
                    out[choice] = unlock
                return out

            return handler

        def on_submit(
            session: dict[str, Any] | None, cur: dict[str, Any] | None, choice_value: Any, *rank_values: Any
        ) -> dict[Any, Any]:
            if not session or not cur:
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
                view = backend(session).submit(session["token"], cur["trial_id"], payload)
            except ServiceError as error:
                if error.status == 401 or error.code.startswith("preview."):
                    return failure(error)
                return {message_md: error.message}
            played.forget(session["key"], cur["trial_id"])
            try:
                return render_trial(view, session)
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
