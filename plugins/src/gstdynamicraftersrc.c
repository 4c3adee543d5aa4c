/* The dynamicrafter element's source side. The source pad's task pushes the frames of the
 * timeline's clips and, when the next frame is not made yet, drives the daemon job that
 * makes it (gstdynamicrafterjob.c). Output caps are chosen at the first frame and on
 * reconfigure; seeks pause the task and replay retained clips, as imagefreeze does. */
#include "gstdynamicrafterprivate.h"

/* Wakes the source task wherever it waits: in the context or (never long) elsewhere. */
void
gst_dynamicrafter_wake_task (GstDynamiCrafter * self)
{
  g_main_context_wakeup (self->context);
}

/* After an error, as basesrc does: refuse further input, send EOS so that downstream (a
 * muxer) can still finish what it has, and pause. Called from the task. */
void
gst_dynamicrafter_stop_after_error (GstDynamiCrafter * self)
{
  GstEvent *eos = gst_event_new_eos ();

  g_mutex_lock (&self->lock);
  self->state.failed = TRUE;
  self->state.eos_sent = TRUE;
  if (self->state.seqnum)
    gst_event_set_seqnum (eos, self->state.seqnum);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  gst_pad_push_event (self->srcpad, eos);
  gst_pad_pause_task (self->srcpad);
}

/* Chooses output caps: the model's size and the clip's frame rate unless downstream asks
 * for something else, and once a frame rate is chosen it stays for the stream (timestamps
 * are frame counts in it). */
static gboolean
negotiate (GstDynamiCrafter * self, const DcFrames * frames)
{
  GstDynamiCrafterState *state = &self->state;
  /* What downstream takes of what we can make (any size, any rate): not our current caps,
   * so that a reconfigure may change the size. */
  GstCaps *template = gst_pad_get_pad_template_caps (self->srcpad);
  GstCaps *peer = gst_pad_peer_query_caps (self->srcpad, template);
  GstCaps *allowed = gst_caps_intersect (peer, template);
  gboolean negotiated, done = FALSE;
  gint fps_n, fps_d;

  gst_caps_unref (peer);
  gst_caps_unref (template);
  g_mutex_lock (&self->lock);
  negotiated = state->negotiated;
  fps_n = state->fps_n;
  fps_d = state->fps_d;
  g_mutex_unlock (&self->lock);
  GST_DEBUG_OBJECT (self, "downstream allows %" GST_PTR_FORMAT, allowed);

  for (guint i = 0; !done && i < gst_caps_get_size (allowed); i++) {
    GstCaps *candidate = gst_caps_copy_nth (allowed, i);
    GstStructure *s;
    GstVideoInfo info;

    if (negotiated) {
      GstCaps *rate = gst_caps_new_simple ("video/x-raw", "framerate",
          GST_TYPE_FRACTION, fps_n, fps_d, NULL);
      GstCaps *both = gst_caps_intersect (candidate, rate);
      gst_caps_unref (rate);
      gst_caps_unref (candidate);
      candidate = both;
      if (gst_caps_is_empty (candidate)) {
        gst_caps_unref (candidate);
        continue;
      }
    }
    candidate = gst_caps_make_writable (candidate);
    s = gst_caps_get_structure (candidate, 0);
    gst_structure_fixate_field_nearest_int (s, "width", (gint) frames->width);
    gst_structure_fixate_field_nearest_int (s, "height", (gint) frames->height);
    gst_structure_fixate_field_nearest_fraction (s, "framerate", (gint) frames->fps, 1);
    if (gst_structure_has_field (s, "pixel-aspect-ratio"))
      gst_structure_fixate_field_nearest_fraction (s, "pixel-aspect-ratio", 1, 1);
    candidate = gst_caps_fixate (candidate);
    if (gst_video_info_from_caps (&info, candidate) && GST_VIDEO_INFO_FPS_N (&info) > 0
        && GST_VIDEO_INFO_FPS_D (&info) > 0
        && gst_pad_set_caps (self->srcpad, candidate)) {
      GST_DEBUG_OBJECT (self, "output caps %" GST_PTR_FORMAT, candidate);
      g_mutex_lock (&self->lock);
      state->out_info = info;
      state->fps_n = GST_VIDEO_INFO_FPS_N (&info);
      state->fps_d = GST_VIDEO_INFO_FPS_D (&info);
      if (!state->negotiated) {
        /* A seek made before the rate was known counts from now on. */
        state->offset = gst_dynamicrafter_time_to_frame_locked (self, state->segment.start);
        state->negotiated = TRUE;
      }
      g_mutex_unlock (&self->lock);
      done = TRUE;
    }
    gst_caps_unref (candidate);
  }
  gst_caps_unref (allowed);
  return done;
}

/* Ends the output at the end of the stream or of the segment, as imagefreeze does. */
static void
push_end (GstDynamiCrafter * self)
{
  GstEvent *event;
  GstMessage *message = NULL;
  guint32 seqnum;

  g_mutex_lock (&self->lock);
  self->state.eos_sent = TRUE;
  seqnum = self->state.seqnum;
  if (self->state.segment.flags & GST_SEGMENT_FLAG_SEGMENT) {
    message = gst_message_new_segment_done (GST_OBJECT (self), GST_FORMAT_TIME,
        self->state.segment.stop);
    event = gst_event_new_segment_done (GST_FORMAT_TIME, self->state.segment.stop);
  } else {
    event = gst_event_new_eos ();
  }
  g_mutex_unlock (&self->lock);
  if (seqnum) {
    gst_event_set_seqnum (event, seqnum);
    if (message)
      gst_message_set_seqnum (message, seqnum);
  }
  if (message)
    gst_element_post_message (GST_ELEMENT (self), message);
  gst_pad_push_event (self->srcpad, event);
  gst_pad_pause_task (self->srcpad);
}

static void
handle_flow (GstDynamiCrafter * self, GstFlowReturn flow)
{
  if (flow == GST_FLOW_OK)
    return;
  GST_DEBUG_OBJECT (self, "pausing after %s", gst_flow_get_name (flow));
  if (flow == GST_FLOW_EOS) {
    push_end (self);
    return;
  }
  if (flow == GST_FLOW_NOT_LINKED || flow < GST_FLOW_EOS) {
    GST_ELEMENT_FLOW_ERROR (self, flow);
    gst_dynamicrafter_stop_after_error (self);
    return;
  }
  gst_pad_pause_task (self->srcpad);
}

/* Pushes output frame `state.offset`, held by `clip`. Called with the lock held; returns
 * with it released. */
static void
push_frame_locked (GstDynamiCrafter * self, GstDynamiCrafterClip * clip)
{
  GstDynamiCrafterState *state = &self->state;
  DcFrames *frames = dc_frames_ref (clip->frames);
  const guint index = (guint) (state->offset - clip->first);
  gboolean renegotiate = !state->negotiated;
  GstClockTime start, stop;
  guint64 clip_start, clip_stop, offset;
  gboolean eos, in_segment, discont;
  GstEvent *segment = NULL;
  GstVideoInfo out_info;
  GstBuffer *buffer;

  g_mutex_unlock (&self->lock);
  if (gst_pad_check_reconfigure (self->srcpad))
    renegotiate = TRUE;
  if (renegotiate && !negotiate (self, frames)) {
    GstCaps *peer = gst_pad_peer_query_caps (self->srcpad, NULL);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream accepts no RGB video with a frame rate"),
        ("the clip is %ux%u at %u fps; downstream allows %" GST_PTR_FORMAT, frames->width,
            frames->height, frames->fps, peer));
    gst_clear_caps (&peer);
    gst_pad_mark_reconfigure (self->srcpad);
    dc_frames_unref (frames);
    gst_dynamicrafter_stop_after_error (self);
    return;
  }

  g_mutex_lock (&self->lock);
  if (state->need_segment) {
    segment = gst_event_new_segment (&state->segment);
    if (state->seqnum)
      gst_event_set_seqnum (segment, state->seqnum);
    state->need_segment = FALSE;
  }
  offset = state->offset;
  start = gst_dynamicrafter_frame_time_locked (self, offset);
  stop = gst_dynamicrafter_frame_time_locked (self, offset + 1);
  eos = state->segment.stop != GST_CLOCK_TIME_NONE && start >= state->segment.stop;
  in_segment = !eos && gst_segment_clip (&state->segment, GST_FORMAT_TIME, start, stop,
      &clip_start, &clip_stop);
  discont = state->discont || index == 0;
  if (in_segment) {
    state->segment.position = clip_stop;
    state->discont = FALSE;
  }
  if (!eos)
    state->offset++;
  out_info = state->out_info;
  g_mutex_unlock (&self->lock);

  if (segment)
    gst_pad_push_event (self->srcpad, segment);
  if (eos) {
    dc_frames_unref (frames);
    push_end (self);
    return;
  }
  if (!in_segment) {
    dc_frames_unref (frames);
    return;
  }

  buffer = dc_frames_buffer (frames, index, &out_info);
  dc_frames_unref (frames);
  if (buffer == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Cannot allocate an output frame"), (NULL));
    gst_dynamicrafter_stop_after_error (self);
    return;
  }
  GST_BUFFER_PTS (buffer) = clip_start;
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = clip_stop - clip_start;
  GST_BUFFER_OFFSET (buffer) = offset;
  GST_BUFFER_OFFSET_END (buffer) = offset + 1;
  if (discont)
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
  GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT " (clip frame %u) at %" GST_TIME_FORMAT,
      offset, index, GST_TIME_ARGS (clip_start));
  handle_flow (self, gst_pad_push (self->srcpad, buffer));
}

/* One turn of the task: push the next frame if its clip is made, else wait for the job
 * making it, else start the next job, else wait for an image, EOS or a stop. */
static void
src_loop (GstPad * pad)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (GST_PAD_PARENT (pad));
  GstDynamiCrafterState *state = &self->state;
  GstDynamiCrafterClip *clip;
  GstDynamiCrafterRequest *request = NULL;
  gboolean at_end;

  g_mutex_lock (&self->lock);
  if (self->flushing || state->pause_requested || state->direct_eos || state->eos_sent
      || state->failed) {
    g_mutex_unlock (&self->lock);
    gst_pad_pause_task (pad);
    return;
  }
  clip = gst_dynamicrafter_clip_at_locked (self, state->offset);
  if (clip) {
    push_frame_locked (self, clip);
    return;
  }
  at_end = self->job == NULL && g_queue_is_empty (&state->requests) && state->sink_eos;
  if (self->job == NULL && !at_end) {
    request = g_queue_pop_head (&state->requests);
    if (request)
      g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);

  if (at_end) {
    GST_DEBUG_OBJECT (self, "all clips pushed, end of stream");
    push_end (self);
  } else if (self->job) {
    gst_dynamicrafter_job_wait (self);
  } else if (request) {
    gst_dynamicrafter_job_start (self, request);
  } else {
    g_main_context_iteration (self->context, TRUE);
  }
}

void
gst_dynamicrafter_start_task (GstDynamiCrafter * self)
{
  gst_pad_start_task (self->srcpad, (GstTaskFunction) src_loop, self->srcpad, NULL);
}

/* Pauses the task without flushing (the task must not block again meanwhile). */
static void
pause_task_now (GstDynamiCrafter * self)
{
  g_mutex_lock (&self->lock);
  self->state.pause_requested = TRUE;
  g_mutex_unlock (&self->lock);
  gst_dynamicrafter_wake_task (self);
  gst_pad_pause_task (self->srcpad);
}

gboolean
gst_dynamicrafter_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CONVERT:{
      GstFormat src_format, dest_format;
      gint64 src_value, dest_value;
      gst_query_parse_convert (query, &src_format, &src_value, &dest_format, NULL);
      if (!gst_dynamicrafter_convert (self, src_format, src_value, dest_format,
              &dest_value))
        return FALSE;
      gst_query_set_convert (query, src_format, src_value, dest_format, dest_value);
      return TRUE;
    }
    case GST_QUERY_POSITION:{
      GstFormat format;
      gint64 position;
      gst_query_parse_position (query, &format, NULL);
      if (format != GST_FORMAT_TIME && format != GST_FORMAT_DEFAULT)
        return FALSE;
      g_mutex_lock (&self->lock);
      position = format == GST_FORMAT_TIME ? (gint64) self->state.segment.position
          : (gint64) self->state.offset;
      g_mutex_unlock (&self->lock);
      gst_query_set_position (query, format, position);
      return TRUE;
    }
    case GST_QUERY_DURATION:{
      /* Unknown until upstream runs out of images, unless a seek set an end. */
      GstFormat format;
      gint64 duration;
      gst_query_parse_duration (query, &format, NULL);
      if (format != GST_FORMAT_TIME && format != GST_FORMAT_DEFAULT)
        return FALSE;
      g_mutex_lock (&self->lock);
      duration = (gint64) self->state.segment.stop;
      g_mutex_unlock (&self->lock);
      if (format == GST_FORMAT_DEFAULT
          && !gst_dynamicrafter_convert (self, GST_FORMAT_TIME, duration,
              GST_FORMAT_DEFAULT, &duration))
        return FALSE;
      gst_query_set_duration (query, format, duration);
      return TRUE;
    }
    case GST_QUERY_SEEKING:{
      GstFormat format;
      gboolean seekable;
      gst_query_parse_seeking (query, &format, NULL, NULL, NULL);
      seekable = format == GST_FORMAT_TIME || format == GST_FORMAT_DEFAULT;
      gst_query_set_seeking (query, format, seekable, seekable ? 0 : -1, -1);
      return TRUE;
    }
    case GST_QUERY_LATENCY:
      /* Not live: frames go out as fast as downstream takes them, whatever upstream is. */
      gst_query_set_latency (query, FALSE, 0, GST_CLOCK_TIME_NONE);
      return TRUE;
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
handle_seek (GstDynamiCrafter * self, GstEvent * event)
{
  GstDynamiCrafterState *state = &self->state;
  gdouble rate;
  GstFormat format;
  GstSeekFlags flags;
  GstSeekType start_type, stop_type;
  gint64 start, stop;
  gboolean flush, dropped;
  guint32 seqnum = gst_event_get_seqnum (event);
  gint64 position;

  gst_event_parse_seek (event, &rate, &format, &flags, &start_type, &start, &stop_type,
      &stop);
  gst_event_unref (event);
  flush = (flags & GST_SEEK_FLAG_FLUSH) != 0;

  if (rate <= 0) {
    GST_WARNING_OBJECT (self, "reverse playback is not supported");
    return FALSE;
  }
  if (format == GST_FORMAT_DEFAULT) {
    if (!gst_dynamicrafter_convert (self, GST_FORMAT_DEFAULT, start, GST_FORMAT_TIME,
            &start)
        || !gst_dynamicrafter_convert (self, GST_FORMAT_DEFAULT, stop, GST_FORMAT_TIME,
            &stop)) {
      GST_WARNING_OBJECT (self, "cannot seek in frames before the frame rate is known");
      return FALSE;
    }
    format = GST_FORMAT_TIME;
  } else if (format != GST_FORMAT_TIME) {
    GST_WARNING_OBJECT (self, "cannot seek in %s", gst_format_get_name (format));
    return FALSE;
  }

  g_mutex_lock (&self->lock);
  dropped = start_type == GST_SEEK_TYPE_SET && start >= 0
      && gst_dynamicrafter_timeline_dropped_locked (self, start);
  g_mutex_unlock (&self->lock);
  if (dropped) {
    GST_WARNING_OBJECT (self, "the frames at %" GST_TIME_FORMAT " are no longer kept",
        GST_TIME_ARGS (start));
    return FALSE;
  }

  if (flush) {
    GstEvent *flush_start = gst_event_new_flush_start ();
    gst_event_set_seqnum (flush_start, seqnum);
    /* Unblocks a push downstream; the task then sees pause_requested and pauses. The
     * daemon's job goes on: its clip is still part of the timeline. */
    g_mutex_lock (&self->lock);
    state->pause_requested = TRUE;
    g_mutex_unlock (&self->lock);
    gst_dynamicrafter_wake_task (self);
    gst_pad_push_event (self->srcpad, flush_start);
    gst_pad_pause_task (self->srcpad);
  } else {
    pause_task_now (self);
  }

  GST_PAD_STREAM_LOCK (self->srcpad);
  g_mutex_lock (&self->lock);
  gst_segment_do_seek (&state->segment, rate, format, flags, start_type, start,
      stop_type, stop, NULL);
  if (state->negotiated)
    state->offset = gst_dynamicrafter_time_to_frame_locked (self, state->segment.start);
  state->need_segment = TRUE;
  state->discont = TRUE;
  state->eos_sent = FALSE;
  state->pause_requested = FALSE;
  state->seqnum = seqnum;
  position = (gint64) state->segment.position;
  g_mutex_unlock (&self->lock);

  if (flush) {
    GstEvent *flush_stop = gst_event_new_flush_stop (TRUE);
    gst_event_set_seqnum (flush_stop, seqnum);
    gst_pad_push_event (self->srcpad, flush_stop);
  }
  if (flags & GST_SEEK_FLAG_SEGMENT) {
    GstMessage *message = gst_message_new_segment_start (GST_OBJECT (self),
        GST_FORMAT_TIME, position);
    gst_message_set_seqnum (message, seqnum);
    gst_element_post_message (GST_ELEMENT (self), message);
  }
  GST_PAD_STREAM_UNLOCK (self->srcpad);

  g_mutex_lock (&self->lock);
  GST_DEBUG_OBJECT (self, "seek done: %" GST_SEGMENT_FORMAT, &state->segment);
  if (!self->flushing && !state->failed)
    gst_dynamicrafter_start_task (self);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

gboolean
gst_dynamicrafter_src_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (parent);

  GST_LOG_OBJECT (pad, "%s event", GST_EVENT_TYPE_NAME (event));
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_SEEK:
      return handle_seek (self, event);
    case GST_EVENT_QOS:
    case GST_EVENT_NAVIGATION:
    case GST_EVENT_LATENCY:
    case GST_EVENT_STEP:
      gst_event_unref (event);
      return TRUE;
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

gboolean
gst_dynamicrafter_src_activate_mode (GstPad * pad, GstObject * parent, GstPadMode mode,
    gboolean active)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (parent);

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active) {
    g_mutex_lock (&self->lock);
    gst_dynamicrafter_state_reset_locked (self);
    self->flushing = FALSE;
    g_mutex_unlock (&self->lock);
    return TRUE;
  }
  /* Stopping: wake the task wherever it waits, abort a D-Bus call in flight, join it. The
   * job itself is cancelled by change_state once the pads are down. */
  g_mutex_lock (&self->lock);
  self->flushing = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  gst_dynamicrafter_wake_task (self);
  g_cancellable_cancel (self->cancellable);
  return gst_pad_stop_task (pad);
}
