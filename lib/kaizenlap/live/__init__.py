"""Live mode (project issue 23): a race's crossings replayed (or, later, fed live) into an incremental state
with no look-ahead, each change published to the store as an event the API streams (``GET /live/{race_id}/events``,
server-sent events). :mod:`.feed` (where crossings come from), :mod:`.state` (the state after each crossing),
:mod:`.publish` (the events in the store). docs/DATA_REFERENCE.md "Live mode" describes the protocol.
"""
from kaizenlap.live.feed import Crossing, Feed, RecordedFeed, ReplayFeed, paced, record
from kaizenlap.live.state import LiveState, analysis, diff, flagged, laps_frame

__all__ = ["Crossing", "Feed", "LiveState", "RecordedFeed", "ReplayFeed", "analysis", "diff", "flagged",
           "laps_frame", "paced", "record"]
