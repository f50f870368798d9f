"""The sidebar's "Record & replay": record an endpoint's answers, replay them offline, labelled."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import streamlit as st

from components.access import current_visitor
from components.display import replay_badge
from components.runtime import (
    RECORDING_KEY,
    REPLAY_KEY,
    current_endpoint,
    current_recording,
    current_replay,
)
from core.network.recording import (
    SPEEDS,
    ListedRecording,
    Recording,
    RecordingError,
    RecordingsFolder,
    import_recording,
    new_recording_path,
    recording_to_bytes,
    recordings_dir,
)
from core.paths import data_dir
from core.security.access import shared_folder, visitor_folders
from core.security.keys import without_userinfo
from core.security.untrusted import escape_markdown

LIVE = "Live (no replay)"
CHOICE_KEY = "replay.choice"
SPEED_KEY = "replay.speed"
IMPORTED_KEY = "replay.imported_ids"


@st.cache_resource(show_spinner=False)
def _folder(directory: str) -> RecordingsFolder:
    """The recordings folder, one per data directory for the process: each file is parsed once
    per version, and the same `Recording` object comes back while the file is unchanged (so
    replay routes are reused across reruns)."""
    return RecordingsFolder(Path(directory))


def recordings_home() -> Path:
    """Where this visitor's recordings and imports go (their own folder in a shared lab)."""
    return visitor_folders(data_dir(), current_visitor())[0]


def available_recordings() -> tuple[dict[str, Recording], list[ListedRecording]]:
    """Usable recordings by title, and the files that cannot be used (with their problem): in a
    lab others use, only this visitor's own and those shared on purpose."""
    usable: dict[str, Recording] = {}
    bad: list[ListedRecording] = []
    for item in (i for folder in visitor_folders(data_dir(), current_visitor())[1]
                 for i in _folder(str(folder)).listing()):
        if item.recording is None:
            bad.append(item)
            continue
        title = item.recording.title
        if title in usable:  # two recordings in the same minute: tell them apart by file
            title = f"{title} ({item.path.name})"
        usable[title] = item.recording
    return usable, bad


def replay_mode_badge() -> None:
    """A badge at the top of the sidebar while answers come from a recording (the same badge
    `components.display.replay_badge` puts beside such an answer), or are being recorded."""
    replay = current_replay()
    if replay is not None:
        replay_badge(replay[0].title)
    elif current_recording() is not None:
        st.badge("RECORDING answers", icon=":material/radio_button_checked:", color="red")


def render_record_and_replay() -> None:
    """The expander: choose live or a recording; record; export; import."""
    # An uploaded file is imported before the choices are listed, so it is offered at once.
    imported = _take_import()
    usable, bad = available_recordings()
    active = current_replay() is not None or current_recording() is not None
    with st.expander("Record & replay", icon=":material/replay:", expanded=active):
        options = [LIVE, *usable]
        if st.session_state.get(CHOICE_KEY) not in options:
            st.session_state[CHOICE_KEY] = LIVE
        choice = st.selectbox(
            "Answers from", options, key=CHOICE_KEY,
            help="A recording replays an endpoint's answers offline, chunk by chunk at the recorded "
            "pace, through the same ChatOpenAI code as a live call.",
        )
        if choice == LIVE:
            st.session_state.pop(REPLAY_KEY, None)
            _record_controls()
        else:
            st.session_state.pop(RECORDING_KEY, None)
            speed_name = st.segmented_control("Pace", list(SPEEDS), default=next(iter(SPEEDS)),
                                              key=SPEED_KEY, required=True)
            recording = usable[choice]
            st.session_state[REPLAY_KEY] = (recording, SPEEDS[speed_name or next(iter(SPEEDS))])
            st.caption(
                f"{len(recording.exchanges)} answer{'s' if len(recording.exchanges) != 1 else ''} "
                f"of {escape_markdown(recording.model)} from {escape_markdown(recording.upstream or 'an endpoint')}. "
                "Only these "
                "requests are answered; the provider and network settings above are not used."
            )
            st.download_button(
                "Export recording", recording_to_bytes(recording),
                file_name=recording.path.name if recording.path else "recording.json",
                mime="application/json", icon=":material/download:", key="replay.export",
                on_click="ignore",
            )
            _share_control(recording)
        _import_control(imported)
        for item in bad:
            st.warning(escape_markdown(f"{item.path.name}: {item.problem}"), icon=":material/error:")


def _record_controls() -> None:
    recording = current_recording()
    if recording is None:
        if st.button("Record this endpoint's answers", icon=":material/radio_button_checked:",
                     key="replay.record", help="Every answer from now on (each streamed chunk with "
                     "its arrival time, usage, finish reason) is saved to a file; no key is saved."):
            try:
                endpoint = current_endpoint().direct
            except Exception as exc:  # no endpoint yet: say why instead of recording nothing
                st.error(f"Nothing to record from: {escape_markdown(str(exc))}", icon=":material/error:")
                return
            now = dt.datetime.now(dt.UTC)
            st.session_state[RECORDING_KEY] = Recording(
                model=endpoint.model, upstream=without_userinfo(endpoint.base_url), recorded_at=now,
                path=new_recording_path(recordings_home(), endpoint.model, now),
            )
            st.rerun()
        return
    # Filled after the page ran (`show_recording_status`), so the count includes its calls.
    st.session_state[_STATUS_SLOT] = st.empty()
    if st.button("Stop recording", icon=":material/stop_circle:", key="replay.stop"):
        recording.flush()  # the last answers are in the file before the folder is listed again
        st.session_state.pop(RECORDING_KEY, None)
        st.rerun()


_STATUS_SLOT = "replay.status_slot"


def show_recording_status() -> None:
    """Under the Record button: how many answers are saved. The router calls it after the page."""
    recording = current_recording()
    slot = st.session_state.pop(_STATUS_SLOT, None)
    if recording is None or slot is None:
        return
    count = len(recording.exchanges)
    if recording.write_problem:  # the answers are kept in memory; the file is behind
        slot.warning(f"Recording {escape_markdown(recording.model)}: {count} answer{'s' if count != 1 else ''} "
                     f"kept, but the file could not be written ({recording.write_problem}).",
                     icon=":material/warning:")
        return
    slot.caption(
        f":red[●] Recording {escape_markdown(recording.model)}: {count} answer{'s' if count != 1 else ''} saved to "
        f"{escape_markdown(recording.path.name) if recording.path else 'memory'}. Make the calls you will replay."
    )


def _share_control(recording: Recording) -> None:
    """In a lab others use: the switch that offers this visitor's recording to every visitor."""
    visitor = current_visitor()
    if not visitor.shared_lab or recording.path is None:
        return
    private = recordings_dir(recordings_home())
    shared = recordings_dir(shared_folder(data_dir(), visitor))
    if recording.path.parent not in (private, shared):
        st.caption("Shared by another visitor.")
        return
    on = st.toggle("Share with every visitor", value=recording.path.parent == shared, key="replay.share",
                   help="Other visitors can then replay and export it (its prompts and answers). "
                   "Off: only this browser sees it.")
    target = shared if on else private
    if recording.path.parent != target:
        target.mkdir(parents=True, exist_ok=True)
        recording.path.rename(target / recording.path.name)
        recording.path = target / recording.path.name
        st.rerun()


IMPORT_KEY = "replay.import"


def _take_import() -> tuple[bool, str] | None:
    """Import the file just uploaded, once: (imported?, message), or None when nothing is new."""
    uploaded = st.session_state.get(IMPORT_KEY)
    if uploaded is None:
        return None
    done: set[str] = st.session_state.setdefault(IMPORTED_KEY, set())
    if uploaded.file_id in done:
        return None
    done.add(uploaded.file_id)
    try:
        recording = import_recording(uploaded.getvalue(), uploaded.name, recordings_home())
    except RecordingError as exc:
        return False, f"Not imported. {escape_markdown(str(exc))}"
    return True, f"Imported: {escape_markdown(recording.title)}. Choose it under Answers from."


def _import_control(imported: tuple[bool, str] | None) -> None:
    st.file_uploader("Import a recording", type=["json"], key=IMPORT_KEY,
                     help="A file saved with Export recording, on this or another machine.")
    if imported is None:
        return
    ok, message = imported
    if ok:
        st.success(message, icon=":material/check:")
    else:
        st.error(message, icon=":material/error:")
