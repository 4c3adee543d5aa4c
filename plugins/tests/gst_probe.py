#!/usr/bin/python3
"""Runs a GStreamer pipeline with Debian's Python bindings (python3-gi) and reports, as JSON
on stdout, what reached one element's sink pad and what the bus said. The plugin tests
(Tests/PluginTests) drive it; it is a plain observer, it knows nothing of the element.

Buffers are recorded with pts, duration, offsets, flags, size and a hash of their bytes;
events with their type (caps and segments in full); bus messages as type, source and
structure. Actions, each triggered once:
  --stop-on-progress STAGE   set the pipeline to NULL when an element message
                             "dynamicrafter-progress" with that stage arrives (and step >= 1
                             for denoising); report how long set_state(NULL) took
  --eos-on-progress STAGE    send EOS to the element named dynamicrafter there instead, and
                             report how long until EOS reaches the probed pad
  --action-clip N            the clip whose progress triggers those (default 0)
  --seek-after-eos SECONDS   after the first EOS, a flushing seek to that position; buffers
                             after the seek are reported apart, and the run ends at the
                             second EOS
  --set-caps NAME=CAPS       after parsing (so after linking), set a capsfilter's caps
  --set-on-first-buffer PROPERTY=VALUE
                             when the first buffer reaches the probed pad, set a property of
                             the dynamicrafter element (from the streaming thread, so before
                             the element sends its next image)
"""
import argparse
import hashlib
import json
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def structure_dict(structure):
    if structure is None:
        return None
    result = {"name": structure.get_name()}
    for index in range(structure.n_fields()):
        field = structure.nth_field_name(index)
        value = structure.get_value(field)
        if isinstance(value, (bool, int, float, str)) or value is None:
            result[field] = value
        else:
            result[field] = str(value)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("pipeline")
    parser.add_argument("--probe", default="sink", help="element whose sink pad is watched")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--stop-on-progress")
    parser.add_argument("--eos-on-progress")
    parser.add_argument("--action-clip", type=int, default=0,
                        help="the clip whose progress triggers the action")
    parser.add_argument("--seek-after-eos", type=float)
    parser.add_argument("--set-caps", action="append", default=[])
    parser.add_argument("--set-on-first-buffer", action="append", default=[])
    args = parser.parse_args()

    Gst.init(None)
    report = {"buffers": [], "buffers_after_seek": [], "events": [], "messages": [],
              "errors": [], "warnings": [], "eos": 0, "timed_out": False}
    try:
        pipeline = Gst.parse_launch(args.pipeline)
    except GLib.Error as error:
        report["parse_error"] = error.message
        print(json.dumps(report))
        return
    for assignment in args.set_caps:
        name, caps = assignment.split("=", 1)
        pipeline.get_by_name(name).set_property("caps", Gst.Caps.from_string(caps))

    loop = GLib.MainLoop()
    state = {"seeked": False, "acted": False, "eos_sent_at": None}
    started = time.monotonic()

    def on_probe(pad, info):
        if info.type & Gst.PadProbeType.BUFFER:
            buffer = info.get_buffer()
            ok, mapped = buffer.map(Gst.MapFlags.READ)
            digest = hashlib.sha1(mapped.data).hexdigest() if ok else None
            if ok:
                buffer.unmap(mapped)
            entry = {
                "pts": buffer.pts if buffer.pts != Gst.CLOCK_TIME_NONE else None,
                "duration": buffer.duration if buffer.duration != Gst.CLOCK_TIME_NONE else None,
                "offset": buffer.offset, "offset_end": buffer.offset_end,
                "discont": bool(buffer.get_flags() & Gst.BufferFlags.DISCONT),
                "size": buffer.get_size(), "sha1": digest,
                "at": time.monotonic() - started,
            }
            report["buffers_after_seek" if state["seeked"] else "buffers"].append(entry)
            if len(report["buffers"]) == 1 and not state["seeked"]:
                for assignment in args.set_on_first_buffer:
                    name, value = assignment.split("=", 1)
                    Gst.util_set_object_arg(element, name, value)
        elif info.type & Gst.PadProbeType.EVENT_DOWNSTREAM:
            event = info.get_event()
            entry = {"type": Gst.EventType.get_name(event.type), "after_seek": state["seeked"],
                     "at": time.monotonic() - started}
            if event.type == Gst.EventType.CAPS:
                entry["caps"] = event.parse_caps().to_string()
            elif event.type == Gst.EventType.SEGMENT:
                segment = event.parse_segment()
                entry["segment"] = {"start": segment.start, "stop": segment.stop,
                                    "time": segment.time, "rate": segment.rate,
                                    "format": int(segment.format)}
            elif event.type == Gst.EventType.EOS and state["eos_sent_at"] is not None:
                report["eos_latency_seconds"] = time.monotonic() - state["eos_sent_at"]
            report["events"].append(entry)
        return Gst.PadProbeReturn.OK

    probed = pipeline.get_by_name(args.probe)
    probed.get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM, on_probe)
    element = None
    elements = pipeline.iterate_recurse()
    while True:
        result, candidate = elements.next()
        if result != Gst.IteratorResult.OK:
            break
        if candidate.get_factory() and candidate.get_factory().get_name() == "dynamicrafter":
            element = candidate

    def finish():
        if element is not None:
            report["properties"] = {"latency": element.get_property("latency"),
                                    "clips-done": element.get_property("clips-done")}
        loop.quit()

    def on_message(bus, message):
        entry = {"type": Gst.MessageType.get_name(message.type),
                 "source": message.src.get_name() if message.src else None,
                 "at": time.monotonic() - started}
        structure = message.get_structure()
        if message.type in (Gst.MessageType.ELEMENT, Gst.MessageType.PROGRESS):
            entry["structure"] = structure_dict(structure)
            report["messages"].append(entry)
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            report["errors"].append({"source": entry["source"], "domain": str(error.domain),
                                     "code": error.code, "message": error.message, "debug": debug})
            finish()
        elif message.type == Gst.MessageType.WARNING:
            warning, debug = message.parse_warning()
            report["warnings"].append({"source": entry["source"], "message": warning.message,
                                       "debug": debug})
        elif message.type == Gst.MessageType.EOS:
            report["eos"] += 1
            if args.seek_after_eos is not None and not state["seeked"]:
                state["seeked"] = True
                ok = pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH,
                                          int(args.seek_after_eos * Gst.SECOND))
                report["seek_accepted"] = ok
                if not ok:
                    finish()
            else:
                finish()
        elif message.type == Gst.MessageType.ELEMENT and structure is not None \
                and structure.get_name() == "dynamicrafter-progress" and not state["acted"]:
            stage = structure.get_string("stage")
            step = structure.get_value("step")
            target = args.stop_on_progress or args.eos_on_progress
            clip = structure.get_value("clip")
            if target and stage == target and clip == args.action_clip \
                    and (stage != "denoising" or step >= 1):
                state["acted"] = True
                GLib.idle_add(act)
        return True

    def act():
        _, current, pending = pipeline.get_state(0)
        report["state_at_action"] = current.value_nick
        report["pending_state_at_action"] = pending.value_nick
        if args.stop_on_progress:
            before = time.monotonic()
            pipeline.set_state(Gst.State.NULL)
            report["stop_seconds"] = time.monotonic() - before
            report["stopped"] = True
            finish()
        else:
            state["eos_sent_at"] = time.monotonic()
            report["eos_sent"] = element.send_event(Gst.Event.new_eos())
        return False

    def on_timeout():
        report["timed_out"] = True
        finish()
        return False

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    GLib.timeout_add(int(args.timeout * 1000), on_timeout)
    result = pipeline.set_state(Gst.State.PLAYING)
    report["start_result"] = result.value_nick
    if result == Gst.StateChangeReturn.FAILURE:
        # The error message (if any) is still on the bus; let the loop pick it up briefly.
        GLib.timeout_add(500, lambda: finish() or False)
    loop.run()
    before = time.monotonic()
    pipeline.set_state(Gst.State.NULL)
    report["teardown_seconds"] = time.monotonic() - before
    report["elapsed"] = time.monotonic() - started
    bus.remove_signal_watch()
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
