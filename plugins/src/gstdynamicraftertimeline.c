/* The dynamicrafter element's output timeline: every finished clip is appended to it and
 * output frame n has the timestamp n / framerate. Clips stay mapped (up to
 * RETAINED_BYTES_LIMIT) so that a flushing seek can replay them, as imagefreeze replays its
 * one image. */
#include "gstdynamicrafterprivate.h"

/* Finished clips kept for seeking back; older ones are dropped once pushed. */
#define RETAINED_BYTES_LIMIT (256u << 20)

void
gst_dynamicrafter_clip_free (GstDynamiCrafterClip * clip)
{
  dc_frames_unref (clip->frames);
  g_free (clip);
}

GstClockTime
gst_dynamicrafter_frame_time_locked (GstDynamiCrafter * self, guint64 frame)
{
  return gst_util_uint64_scale (frame, self->state.fps_d * GST_SECOND,
      self->state.fps_n);
}

guint64
gst_dynamicrafter_time_to_frame_locked (GstDynamiCrafter * self, GstClockTime time)
{
  return gst_util_uint64_scale (time, self->state.fps_n,
      self->state.fps_d * GST_SECOND);
}

/* Frames and times convert once the frame rate is negotiated. */
gboolean
gst_dynamicrafter_convert (GstDynamiCrafter * self, GstFormat src_format,
    gint64 src_value, GstFormat dest_format, gint64 * dest_value)
{
  gboolean ok = TRUE;

  if (src_format == dest_format || src_value == -1) {
    *dest_value = src_value;
    return TRUE;
  }
  g_mutex_lock (&self->lock);
  if (!self->state.negotiated)
    ok = FALSE;
  else if (src_format == GST_FORMAT_DEFAULT && dest_format == GST_FORMAT_TIME)
    *dest_value = gst_dynamicrafter_frame_time_locked (self, src_value);
  else if (src_format == GST_FORMAT_TIME && dest_format == GST_FORMAT_DEFAULT)
    *dest_value = gst_dynamicrafter_time_to_frame_locked (self, src_value);
  else
    ok = FALSE;
  g_mutex_unlock (&self->lock);
  return ok;
}

/* The retained clip holding output frame `frame`, or NULL when it is not made yet (or
 * no longer kept). Searches from the newest: the task asks for the frame after the last. */
GstDynamiCrafterClip *
gst_dynamicrafter_clip_at_locked (GstDynamiCrafter * self, guint64 frame)
{
  for (GList * l = self->state.clips.tail; l; l = l->prev) {
    GstDynamiCrafterClip *clip = l->data;
    if (frame >= clip->first && frame < clip->first + clip->frames->frames)
      return clip;
    if (frame >= clip->first + clip->frames->frames)
      return NULL;
  }
  return NULL;
}

/* Whether a seek to `time` would need frames already dropped: before the oldest kept
 * clip. Unknown (FALSE) before the frame rate is negotiated. */
gboolean
gst_dynamicrafter_timeline_dropped_locked (GstDynamiCrafter * self, GstClockTime time)
{
  GstDynamiCrafterClip *oldest = g_queue_peek_head (&self->state.clips);

  return oldest && self->state.negotiated
      && gst_dynamicrafter_time_to_frame_locked (self, time) < oldest->first;
}

/* Drops pushed clips beyond the retention limit; a clip not fully pushed stays. */
static void
trim_clips_locked (GstDynamiCrafter * self)
{
  GstDynamiCrafterState *state = &self->state;
  GstDynamiCrafterClip *oldest;

  while (state->retained_bytes > RETAINED_BYTES_LIMIT
      && (oldest = g_queue_peek_head (&state->clips)) != NULL
      && oldest->first + oldest->frames->frames <= state->offset) {
    g_queue_pop_head (&state->clips);
    state->retained_bytes -= oldest->frames->size;
    gst_dynamicrafter_clip_free (oldest);
  }
}

/* Appends a finished clip after the last one; takes `frames`. */
void
gst_dynamicrafter_timeline_append (GstDynamiCrafter * self, DcFrames * frames)
{
  GstDynamiCrafterClip *clip = g_new0 (GstDynamiCrafterClip, 1);
  GstDynamiCrafterState *state = &self->state;

  clip->frames = frames;
  g_mutex_lock (&self->lock);
  clip->first = state->timeline_end;
  state->timeline_end += frames->frames;
  state->retained_bytes += frames->size;
  g_queue_push_tail (&state->clips, clip);
  trim_clips_locked (self);
  g_mutex_unlock (&self->lock);
}
