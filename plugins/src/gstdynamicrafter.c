/* The dynamicrafter element.
 *
 * Threads: upstream's streaming thread runs the sink chain, which turns each image into a
 * sealed memfd and queues a request (blocking while one is already waiting, so memory
 * stays bounded and upstream feels the back-pressure). The source pad's task sends the
 * requests to the daemon one at a time, waits for the job in the element's own
 * GMainContext (where the job's signals are dispatched), takes the frames and pushes them.
 * Seeks, flushes, direct EOS and state changes pause or stop that task first, waking it
 * with g_main_context_wakeup and cancelling any D-Bus call in flight, and only then touch
 * the daemon side.
 *
 * The output timeline: every finished clip is appended to it, output frame n has the
 * timestamp n / framerate, the first frame of every clip is flagged DISCONT. Clips stay
 * mapped (up to RETAINED_BYTES_LIMIT) so a flushing seek can replay them, as imagefreeze
 * replays its one image. */
#include "gstdynamicrafter.h"
#include "dcerror.h"

GST_DEBUG_CATEGORY_STATIC (gst_dynamicrafter_debug);
#define GST_CAT_DEFAULT gst_dynamicrafter_debug

#define DEFAULT_PROMPT ""
#define DEFAULT_FRAMES 0
#define DEFAULT_STEPS 50
#define DEFAULT_CFG_SCALE 7.5
#define DEFAULT_IMAGE_CFG_SCALE -1.0
#define DEFAULT_ETA 1.0
#define DEFAULT_SEED 123
#define DEFAULT_FRAME_STRIDE 0
#define DEFAULT_FPS 0
#define DEFAULT_MODE GST_DYNAMICRAFTER_MODE_DEFAULT
#define DEFAULT_SAMPLER GST_DYNAMICRAFTER_SAMPLER_DDIM
#define DEFAULT_CACHE_INTERVAL 0
#define DEFAULT_BUS "session"

/* Images waiting beyond the one the daemon works on. */
#define MAX_WAITING_REQUESTS 1
/* Finished clips kept for seeking back; older ones are dropped once pushed. */
#define RETAINED_BYTES_LIMIT (256u << 20)

enum {
  PROP_0,
  PROP_PROMPT,
  PROP_FRAMES,
  PROP_STEPS,
  PROP_CFG_SCALE,
  PROP_IMAGE_CFG_SCALE,
  PROP_ETA,
  PROP_SAMPLER,
  PROP_SEED,
  PROP_FRAME_STRIDE,
  PROP_FPS,
  PROP_MODE,
  PROP_CACHE_INTERVAL,
  PROP_MODEL,
  PROP_BUS,
  PROP_SERVICE_NAME,
  PROP_LATENCY,
  PROP_CLIPS_DONE,
  N_PROPERTIES
};

static GParamSpec *properties[N_PROPERTIES];

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    /* No framerate: one buffer is one image, whatever rate (or none) upstream says. */
    GST_STATIC_CAPS ("video/x-raw, "
        "format = (string) { RGB, RGBA, BGR, BGRA, RGBx, BGRx, xRGB, xBGR, ARGB, ABGR }, "
        "width = (int) [ 1, 16384 ], height = (int) [ 1, 16384 ]"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, format = (string) RGB, "
        "width = (int) [ 1, 16384 ], height = (int) [ 1, 16384 ], "
        "framerate = (fraction) [ 1/2147483647, 2147483647/1 ]"));

G_DEFINE_TYPE (GstDynamiCrafter, gst_dynamicrafter, GST_TYPE_ELEMENT);

GType
gst_dynamicrafter_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_DYNAMICRAFTER_MODE_DEFAULT,
        "The model's default (interpolate for 512-interp models, else animate)", "default"},
    {GST_DYNAMICRAFTER_MODE_ANIMATE, "Animate each image", "animate"},
    {GST_DYNAMICRAFTER_MODE_INTERPOLATE,
        "Interpolate from each image to the next (n images make n-1 clips)", "interpolate"},
    {GST_DYNAMICRAFTER_MODE_LOOP,
        "A seamlessly repeating clip per image (one frame fewer)", "loop"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType registered = g_enum_register_static ("GstDynamiCrafterMode", values);
    g_once_init_leave (&type, registered);
  }
  return type;
}

GType
gst_dynamicrafter_sampler_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_DYNAMICRAFTER_SAMPLER_DDIM, "DDIM, the reference's sampler (uses eta)", "ddim"},
    {GST_DYNAMICRAFTER_SAMPLER_DPMPP_2M,
        "DPM-Solver++(2M): deterministic, usually 20-25 steps", "dpmpp-2m"},
    {GST_DYNAMICRAFTER_SAMPLER_UNIPC,
        "UniPC (bh2): deterministic, usually 20-25 steps", "unipc"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType registered = g_enum_register_static ("GstDynamiCrafterSampler", values);
    g_once_init_leave (&type, registered);
  }
  return type;
}

/* ---- small helpers ---------------------------------------------------------------- */

static void
request_free (GstDynamiCrafterRequest * request)
{
  dc_image_unref (request->image);
  if (request->end_image)
    dc_image_unref (request->end_image);
  g_free (request);
}

static void
clip_free (GstDynamiCrafterClip * clip)
{
  dc_frames_unref (clip->frames);
  g_free (clip);
}

static GstClockTime
frame_time (GstDynamiCrafter * self, guint64 frame)
{
  return gst_util_uint64_scale (frame, self->fps_d * GST_SECOND, self->fps_n);
}

static guint64
time_to_frame (GstDynamiCrafter * self, GstClockTime time)
{
  return gst_util_uint64_scale (time, self->fps_n, self->fps_d * GST_SECOND);
}

/* Wakes the source task wherever it waits: in the context or (never long) elsewhere. */
static void
wake_task (GstDynamiCrafter * self)
{
  g_main_context_wakeup (self->context);
}

/* Clears everything that belongs to one stream. Called with the task stopped or paused
 * and the lock held. */
static void
reset_stream_locked (GstDynamiCrafter * self)
{
  g_queue_clear_full (&self->requests, (GDestroyNotify) request_free);
  g_clear_pointer (&self->previous, dc_image_unref);
  g_queue_clear_full (&self->clips, (GDestroyNotify) clip_free);
  self->next_clip = 0;
  self->timeline_end = 0;
  self->retained_bytes = 0;
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  self->need_segment = TRUE;
  self->discont = TRUE;
  self->seqnum = 0;
  self->offset = 0;
  self->negotiated = FALSE;
  self->fps_n = 0;
  self->fps_d = 1;
  self->sink_eos = FALSE;
  self->direct_eos = FALSE;
  self->failed = FALSE;
  self->eos_sent = FALSE;
  self->pause_requested = FALSE;
}

/* Abandons the daemon job, if any. Called with the task stopped or paused. */
static void
drop_job (GstDynamiCrafter * self, gboolean cancel)
{
  if (self->job == NULL)
    return;
  if (cancel && self->client) {
    GST_DEBUG_OBJECT (self, "cancelling job %s", self->job->path);
    dc_client_cancel (self->client, self->job);
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_progress (GST_OBJECT (self), GST_PROGRESS_TYPE_CANCELED,
            "animate", "cancelled"));
  }
  dc_client_forget (self->client, self->job);
  self->job = NULL;
}

static void
post_error (GstDynamiCrafter * self, const GError * error, const gchar * context)
{
  GQuark domain;
  gint code;
  const gchar *name = error->domain == DC_ERROR ? dc_error_dbus_name (error->code) : "";
  gchar *debug;

  dc_error_to_gst (error, &domain, &code);
  debug = g_strdup_printf ("%s%s%s%s", context ? context : "",
      *name ? " (" : "", name, *name ? ")" : "");
  gst_element_message_full (GST_ELEMENT (self), GST_MESSAGE_ERROR, domain, code,
      g_strdup (error->message), debug, __FILE__, GST_FUNCTION, __LINE__);
}

/* After an error, as basesrc does: refuse further input, send EOS so that downstream (a
 * muxer) can still finish what it has, and pause. Called from the task. */
static void
stop_after_error (GstDynamiCrafter * self)
{
  GstEvent *eos = gst_event_new_eos ();

  g_mutex_lock (&self->lock);
  self->failed = TRUE;
  self->eos_sent = TRUE;
  if (self->seqnum)
    gst_event_set_seqnum (eos, self->seqnum);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  gst_pad_push_event (self->srcpad, eos);
  gst_pad_pause_task (self->srcpad);
}

static void
fail (GstDynamiCrafter * self, const GError * error, const gchar * context)
{
  post_error (self, error, context);
  stop_after_error (self);
}

/* ---- progress ----------------------------------------------------------------------- */

static void
post_progress (GstDynamiCrafter * self, DcJob * job)
{
  GstStructure *s;
  GstMessage *message;
  GstProgressType type;
  gchar *text;
  const gboolean final = job->completed;

  s = gst_structure_new ("dynamicrafter-progress",
      "clip", G_TYPE_UINT, self->job_clip,
      "job", G_TYPE_STRING, job->path,
      "state", G_TYPE_STRING, job->state ? job->state : "",
      "stage", G_TYPE_STRING, job->stage ? job->stage : "",
      "step", G_TYPE_UINT, job->step,
      "total", G_TYPE_UINT, job->total_steps,
      "progress", G_TYPE_DOUBLE, job->progress,
      "remaining-seconds", G_TYPE_DOUBLE, job->remaining_seconds, NULL);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));

  if (final)
    return;                     /* COMPLETE or ERROR follow once the frames are taken */
  type = GST_PROGRESS_TYPE_CONTINUE;
  if (job->remaining_seconds >= 0)
    text = g_strdup_printf ("clip %u: %s, step %u of %u, %.1f s left", self->job_clip,
        job->stage, job->step, job->total_steps, job->remaining_seconds);
  else
    text = g_strdup_printf ("clip %u: %s, step %u of %u", self->job_clip,
        *job->stage ? job->stage : job->state, job->step, job->total_steps);
  message = gst_message_new_progress (GST_OBJECT (self), type, "animate", text);
  gst_structure_set (gst_message_writable_structure (message), "percent", G_TYPE_INT,
      (gint) CLAMP (job->progress * 100.0, 0, 100), NULL);
  gst_element_post_message (GST_ELEMENT (self), message);
  g_free (text);
}

static void
on_job_changed (DcJob * job, gpointer user_data)
{
  post_progress (GST_DYNAMICRAFTER (user_data), job);
}

/* ---- the source task ---------------------------------------------------------------- */

static GVariantBuilder *
animate_options (GstDynamiCrafter * self)
{
  GVariantBuilder *options = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  static const gchar *mode_names[] = { NULL, "animate", "interpolate", "loop" };
  static const gchar *sampler_names[] = { "ddim", "dpmpp-2m", "unipc" };

  GST_OBJECT_LOCK (self);
  g_variant_builder_add (options, "{sv}", "prompt",
      g_variant_new_string (self->prompt ? self->prompt : ""));
  if (self->frames > 0)
    g_variant_builder_add (options, "{sv}", "frames", g_variant_new_uint32 (self->frames));
  g_variant_builder_add (options, "{sv}", "steps", g_variant_new_uint32 (self->steps));
  g_variant_builder_add (options, "{sv}", "cfg-scale",
      g_variant_new_double (self->cfg_scale));
  if (self->image_cfg_scale >= 0)
    g_variant_builder_add (options, "{sv}", "image-cfg-scale",
        g_variant_new_double (self->image_cfg_scale));
  /* eta is DDIM's: with a solver it is sent only when changed, and the daemon refuses any
   * value but 0 (an element error then) rather than ignoring it. The default sampler is left
   * out, so daemons without the option still serve DDIM. */
  if (self->sampler == GST_DYNAMICRAFTER_SAMPLER_DDIM || self->eta != DEFAULT_ETA)
    g_variant_builder_add (options, "{sv}", "eta", g_variant_new_double (self->eta));
  if (self->sampler != GST_DYNAMICRAFTER_SAMPLER_DDIM)
    g_variant_builder_add (options, "{sv}", "sampler",
        g_variant_new_string (sampler_names[self->sampler]));
  g_variant_builder_add (options, "{sv}", "seed", g_variant_new_uint64 (self->seed));
  /* Both keys may be set; the daemon refuses that with a message saying so. */
  if (self->frame_stride > 0)
    g_variant_builder_add (options, "{sv}", "frame-stride",
        g_variant_new_uint32 (self->frame_stride));
  if (self->fps > 0)
    g_variant_builder_add (options, "{sv}", "fps", g_variant_new_uint32 (self->fps));
  if (mode_names[self->mode])
    g_variant_builder_add (options, "{sv}", "mode",
        g_variant_new_string (mode_names[self->mode]));
  if (self->model && *self->model)
    g_variant_builder_add (options, "{sv}", "model", g_variant_new_string (self->model));
  /* 0 and 1 are off: then the daemon's default (off) applies. */
  if (self->cache_interval > 1)
    g_variant_builder_add (options, "{sv}", "cache-interval",
        g_variant_new_uint32 (self->cache_interval));
  GST_OBJECT_UNLOCK (self);
  return options;
}

static void
start_job (GstDynamiCrafter * self, GstDynamiCrafterRequest * request)
{
  GError *error = NULL;
  GVariantBuilder *options = animate_options (self);
  DcJob *job;
  gchar *context;

  GST_DEBUG_OBJECT (self, "sending image %u (%ux%u %s) to the daemon", request->clip,
      request->image->width, request->image->height, request->image->format);
  job = dc_client_animate (self->client, request->image, request->end_image, options,
      self->cancellable, &error);
  g_variant_builder_unref (options);
  if (job == NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      /* Stopping: the caller of the cancel cleans up. */
      g_error_free (error);
      return;
    }
    context = g_strdup_printf ("Animate on %s (%s) failed for image %u",
        dc_client_bus_description (self->client), dc_client_service (self->client),
        request->clip);
    if (error->domain == DC_ERROR && error->code == DC_ERROR_NO_DAEMON) {
      /* Say what is missing in words, keeping the bus's own explanation. */
      gchar *message = g_strdup_printf ("The dynamicrafterd daemon is not running on %s "
          "and cannot be started there (no D-Bus service %s): %s",
          dc_client_bus_description (self->client), dc_client_service (self->client),
          error->message);
      g_free (error->message);
      error->message = message;
    }
    fail (self, error, context);
    g_free (context);
    g_error_free (error);
    return;
  }
  self->job = job;
  self->job_clip = request->clip;
  /* The job's TotalSteps is its steps option; known before the daemon says it. */
  GST_OBJECT_LOCK (self);
  job->total_steps = self->steps;
  GST_OBJECT_UNLOCK (self);
  GST_DEBUG_OBJECT (self, "image %u is job %s", request->clip, job->path);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_progress (GST_OBJECT (self), GST_PROGRESS_TYPE_START, "animate",
          job->path));
  post_progress (self, job);
}

/* Drops pushed clips beyond the retention limit. Lock held. */
static void
trim_clips_locked (GstDynamiCrafter * self)
{
  GstDynamiCrafterClip *oldest;

  while (self->retained_bytes > RETAINED_BYTES_LIMIT
      && (oldest = g_queue_peek_head (&self->clips)) != NULL
      && oldest->first + oldest->frames->frames <= self->offset) {
    g_queue_pop_head (&self->clips);
    self->retained_bytes -= oldest->frames->size;
    clip_free (oldest);
  }
}

static void
finish_job (GstDynamiCrafter * self)
{
  DcJob *job = self->job;
  GError *error = NULL;
  DcFrames *frames = NULL;
  GstDynamiCrafterClip *clip;
  gchar *context;
  GstClockTime latency;

  if (job->vanished) {
    g_set_error (&error, DC_ERROR, DC_ERROR_DAEMON_VANISHED,
        "The dynamicrafterd daemon left %s before finishing clip %u (it stopped or "
        "crashed; see its log)", dc_client_bus_description (self->client),
        self->job_clip);
  } else if (!job->success && job->error_name) {
    dc_error_from_name (&error, job->error_name, job->message);
  } else {
    /* Success, or a failure only polling saw: TakeFrames gives the frames or the job's
     * own error. */
    frames = dc_client_take_frames (self->client, job, self->cancellable, &error);
  }
  if (frames == NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      g_error_free (error);
      return;
    }
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_progress (GST_OBJECT (self), GST_PROGRESS_TYPE_ERROR, "animate",
            error->message));
    context = g_strdup_printf ("job %s for image %u", job->path, self->job_clip);
    dc_client_forget (self->client, job);
    self->job = NULL;
    fail (self, error, context);
    g_free (context);
    g_error_free (error);
    return;
  }

  latency = (GstClockTime) (g_get_monotonic_time () - job->started) * GST_USECOND;
  GST_INFO_OBJECT (self, "clip %u: %u frames of %ux%u at %u fps in %" GST_TIME_FORMAT,
      self->job_clip, frames->frames, frames->width, frames->height, frames->fps,
      GST_TIME_ARGS (latency));
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_progress (GST_OBJECT (self), GST_PROGRESS_TYPE_COMPLETE, "animate",
          job->path));
  dc_client_forget (self->client, job);
  self->job = NULL;

  GST_OBJECT_LOCK (self);
  self->latency = latency;
  self->clips_done++;
  GST_OBJECT_UNLOCK (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LATENCY]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLIPS_DONE]);

  clip = g_new0 (GstDynamiCrafterClip, 1);
  clip->frames = frames;
  g_mutex_lock (&self->lock);
  clip->first = self->timeline_end;
  self->timeline_end += frames->frames;
  self->retained_bytes += frames->size;
  g_queue_push_tail (&self->clips, clip);
  trim_clips_locked (self);
  g_mutex_unlock (&self->lock);
}

static void
wait_for_job (GstDynamiCrafter * self)
{
  DcJob *job = self->job;

  if (!job->completed && dc_client_take_poll_due (self->client))
    dc_client_poll (self->client, job, self->cancellable);
  if (job->completed) {
    finish_job (self);
    return;
  }
  /* Dispatches the job's signals, the poll timer, or returns when woken. */
  g_main_context_iteration (self->context, TRUE);
}

/* Chooses output caps: the model's size and the clip's frame rate unless downstream asks
 * for something else, and once a frame rate is chosen it stays for the stream (timestamps
 * are frame counts in it). */
static gboolean
negotiate (GstDynamiCrafter * self, const DcFrames * frames)
{
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
  negotiated = self->negotiated;
  fps_n = self->fps_n;
  fps_d = self->fps_d;
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
      self->out_info = info;
      self->fps_n = GST_VIDEO_INFO_FPS_N (&info);
      self->fps_d = GST_VIDEO_INFO_FPS_D (&info);
      if (!self->negotiated) {
        /* A seek made before the rate was known counts from now on. */
        self->offset = time_to_frame (self, self->segment.start);
        self->negotiated = TRUE;
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
  self->eos_sent = TRUE;
  seqnum = self->seqnum;
  if (self->segment.flags & GST_SEGMENT_FLAG_SEGMENT) {
    message = gst_message_new_segment_done (GST_OBJECT (self), GST_FORMAT_TIME,
        self->segment.stop);
    event = gst_event_new_segment_done (GST_FORMAT_TIME, self->segment.stop);
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
    stop_after_error (self);
    return;
  }
  gst_pad_pause_task (self->srcpad);
}

/* Pushes output frame `self->offset`, held by `clip`. Called with the lock held; returns
 * with it released. */
static void
push_frame_locked (GstDynamiCrafter * self, GstDynamiCrafterClip * clip)
{
  DcFrames *frames = dc_frames_ref (clip->frames);
  const guint index = (guint) (self->offset - clip->first);
  gboolean renegotiate = !self->negotiated;
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
    stop_after_error (self);
    return;
  }

  g_mutex_lock (&self->lock);
  if (self->need_segment) {
    segment = gst_event_new_segment (&self->segment);
    if (self->seqnum)
      gst_event_set_seqnum (segment, self->seqnum);
    self->need_segment = FALSE;
  }
  offset = self->offset;
  start = frame_time (self, offset);
  stop = frame_time (self, offset + 1);
  eos = self->segment.stop != GST_CLOCK_TIME_NONE && start >= self->segment.stop;
  in_segment = !eos && gst_segment_clip (&self->segment, GST_FORMAT_TIME, start, stop,
      &clip_start, &clip_stop);
  discont = self->discont || index == 0;
  if (in_segment) {
    self->segment.position = clip_stop;
    self->discont = FALSE;
  }
  if (!eos)
    self->offset++;
  out_info = self->out_info;
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
    stop_after_error (self);
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

static GstDynamiCrafterClip *
clip_at_locked (GstDynamiCrafter * self, guint64 frame)
{
  for (GList * l = self->clips.tail; l; l = l->prev) {
    GstDynamiCrafterClip *clip = l->data;
    if (frame >= clip->first && frame < clip->first + clip->frames->frames)
      return clip;
    if (frame >= clip->first + clip->frames->frames)
      return NULL;
  }
  return NULL;
}

static void
src_loop (GstPad * pad)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (GST_PAD_PARENT (pad));
  GstDynamiCrafterClip *clip;
  GstDynamiCrafterRequest *request = NULL;
  gboolean at_end;

  g_mutex_lock (&self->lock);
  if (self->flushing || self->pause_requested || self->direct_eos || self->eos_sent
      || self->failed) {
    g_mutex_unlock (&self->lock);
    gst_pad_pause_task (pad);
    return;
  }
  clip = clip_at_locked (self, self->offset);
  if (clip) {
    push_frame_locked (self, clip);
    return;
  }
  at_end = self->job == NULL && g_queue_is_empty (&self->requests) && self->sink_eos;
  if (self->job == NULL && !at_end) {
    request = g_queue_pop_head (&self->requests);
    if (request)
      g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);

  if (at_end) {
    GST_DEBUG_OBJECT (self, "all clips pushed, end of stream");
    push_end (self);
  } else if (self->job) {
    wait_for_job (self);
  } else if (request) {
    start_job (self, request);
    request_free (request);
  } else {
    /* Nothing to do until an image, EOS or a stop arrives. */
    g_main_context_iteration (self->context, TRUE);
  }
}

static void
start_task (GstDynamiCrafter * self)
{
  gst_pad_start_task (self->srcpad, (GstTaskFunction) src_loop, self->srcpad, NULL);
}

/* Pauses the task without flushing (the task must not block again meanwhile). */
static void
pause_task_now (GstDynamiCrafter * self)
{
  g_mutex_lock (&self->lock);
  self->pause_requested = TRUE;
  g_mutex_unlock (&self->lock);
  wake_task (self);
  gst_pad_pause_task (self->srcpad);
}

/* ---- sink pad ----------------------------------------------------------------------- */

static GstFlowReturn
sink_chain (GstPad * pad, GstObject * parent, GstBuffer * buffer)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (parent);
  GstVideoInfo info;
  GstVideoFrame frame;
  GstDynamiCrafterRequest *request = NULL;
  GstDynamiCrafterMode mode;
  GstFlowReturn flow = GST_FLOW_OK;
  GError *error = NULL;
  gboolean mismatch = FALSE;
  DcImage *image;

  g_mutex_lock (&self->lock);
  if (self->failed)
    flow = GST_FLOW_ERROR;
  else if (self->direct_eos)
    flow = GST_FLOW_EOS;
  else if (self->flushing)
    flow = GST_FLOW_FLUSHING;
  else if (!self->have_in_info)
    flow = GST_FLOW_NOT_NEGOTIATED;
  info = self->in_info;
  g_mutex_unlock (&self->lock);
  if (flow != GST_FLOW_OK) {
    gst_buffer_unref (buffer);
    return flow;
  }

  if (!gst_video_frame_map (&frame, &info, buffer, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Cannot read the input image"),
        ("buffer of %" G_GSIZE_FORMAT " bytes does not hold a %dx%d %s frame",
            gst_buffer_get_size (buffer), GST_VIDEO_INFO_WIDTH (&info),
            GST_VIDEO_INFO_HEIGHT (&info), GST_VIDEO_INFO_NAME (&info)));
    gst_buffer_unref (buffer);
    return GST_FLOW_ERROR;
  }
  image = dc_image_new_from_frame (&frame, &error);
  gst_video_frame_unmap (&frame);
  gst_buffer_unref (buffer);
  if (image == NULL) {
    post_error (self, error, "cannot prepare the image for the daemon");
    g_error_free (error);
    return GST_FLOW_ERROR;
  }

  GST_OBJECT_LOCK (self);
  mode = self->mode;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->lock);
  while (!self->flushing && !self->direct_eos && !self->failed
      && g_queue_get_length (&self->requests) >= MAX_WAITING_REQUESTS)
    g_cond_wait (&self->cond, &self->lock);
  if (self->failed || self->direct_eos || self->flushing) {
    flow = self->failed ? GST_FLOW_ERROR : self->direct_eos ? GST_FLOW_EOS :
        GST_FLOW_FLUSHING;
    g_mutex_unlock (&self->lock);
    dc_image_unref (image);
    return flow;
  }
  if (mode != GST_DYNAMICRAFTER_MODE_INTERPOLATE || self->previous) {
    request = g_new0 (GstDynamiCrafterRequest, 1);
    request->clip = self->next_clip++;
    if (mode == GST_DYNAMICRAFTER_MODE_INTERPOLATE) {
      request->image = dc_image_ref (self->previous);
      request->end_image = dc_image_ref (image);
      /* The daemon reads the end image with the start image's raw-pixel options. */
      mismatch = request->image->width != image->width
          || request->image->height != image->height
          || request->image->stride != image->stride;
    } else {
      request->image = dc_image_ref (image);
    }
    g_queue_push_tail (&self->requests, request);
    if (!self->pause_requested && !self->eos_sent)
      start_task (self);
  }
  /* Kept whatever the mode, so that switching to interpolate mid-stream has a start. */
  g_clear_pointer (&self->previous, dc_image_unref);
  self->previous = image;
  g_mutex_unlock (&self->lock);

  if (mismatch)
    GST_ELEMENT_WARNING (self, STREAM, FORMAT,
        ("Interpolation needs consecutive images of the same size and format"),
        ("an image of %ux%u %s follows one of another size or format", image->width,
            image->height, image->format));
  wake_task (self);
  return GST_FLOW_OK;
}

static gboolean
sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (parent);

  GST_LOG_OBJECT (pad, "%s event", GST_EVENT_TYPE_NAME (event));
  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      GstVideoInfo info;
      gst_event_parse_caps (event, &caps);
      if (!gst_video_info_from_caps (&info, caps)) {
        gst_event_unref (event);
        return FALSE;
      }
      g_mutex_lock (&self->lock);
      self->in_info = info;
      self->have_in_info = TRUE;
      g_mutex_unlock (&self->lock);
      gst_event_unref (event);
      return TRUE;
    }
    case GST_EVENT_SEGMENT:
    case GST_EVENT_GAP:
      /* Upstream's timing means nothing for the clips: the output has its own. */
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_EOS:
      g_mutex_lock (&self->lock);
      self->sink_eos = TRUE;
      if (!self->pause_requested && !self->flushing)
        start_task (self);
      g_mutex_unlock (&self->lock);
      wake_task (self);
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_FLUSH_START:
      g_mutex_lock (&self->lock);
      self->flushing = TRUE;
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
      wake_task (self);
      g_cancellable_cancel (self->cancellable);
      gst_pad_push_event (self->srcpad, event);
      gst_pad_pause_task (self->srcpad);
      /* The task is paused: the daemon side is ours. New images, new stream. */
      drop_job (self, TRUE);
      g_mutex_lock (&self->lock);
      reset_stream_locked (self);
      g_mutex_unlock (&self->lock);
      return TRUE;
    case GST_EVENT_FLUSH_STOP:
      g_cancellable_reset (self->cancellable);
      g_mutex_lock (&self->lock);
      self->flushing = FALSE;
      g_mutex_unlock (&self->lock);
      return gst_pad_push_event (self->srcpad, event);
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

static gboolean
sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_ALLOCATION:
      /* Images are copied into a memfd at once: any layout will do. */
      gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
      return TRUE;
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

/* ---- source pad ----------------------------------------------------------------------- */

static gboolean
convert (GstDynamiCrafter * self, GstFormat src_format, gint64 src_value,
    GstFormat dest_format, gint64 * dest_value)
{
  gboolean ok = TRUE;

  if (src_format == dest_format || src_value == -1) {
    *dest_value = src_value;
    return TRUE;
  }
  g_mutex_lock (&self->lock);
  if (!self->negotiated)
    ok = FALSE;
  else if (src_format == GST_FORMAT_DEFAULT && dest_format == GST_FORMAT_TIME)
    *dest_value = frame_time (self, src_value);
  else if (src_format == GST_FORMAT_TIME && dest_format == GST_FORMAT_DEFAULT)
    *dest_value = time_to_frame (self, src_value);
  else
    ok = FALSE;
  g_mutex_unlock (&self->lock);
  return ok;
}

static gboolean
src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CONVERT:{
      GstFormat src_format, dest_format;
      gint64 src_value, dest_value;
      gst_query_parse_convert (query, &src_format, &src_value, &dest_format, NULL);
      if (!convert (self, src_format, src_value, dest_format, &dest_value))
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
      position = format == GST_FORMAT_TIME ? (gint64) self->segment.position
          : (gint64) self->offset;
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
      duration = (gint64) self->segment.stop;
      g_mutex_unlock (&self->lock);
      if (format == GST_FORMAT_DEFAULT
          && !convert (self, GST_FORMAT_TIME, duration, GST_FORMAT_DEFAULT, &duration))
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
  gdouble rate;
  GstFormat format;
  GstSeekFlags flags;
  GstSeekType start_type, stop_type;
  gint64 start, stop;
  gboolean flush;
  guint32 seqnum = gst_event_get_seqnum (event);
  GstDynamiCrafterClip *oldest;
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
    if (!convert (self, GST_FORMAT_DEFAULT, start, GST_FORMAT_TIME, &start)
        || !convert (self, GST_FORMAT_DEFAULT, stop, GST_FORMAT_TIME, &stop)) {
      GST_WARNING_OBJECT (self, "cannot seek in frames before the frame rate is known");
      return FALSE;
    }
    format = GST_FORMAT_TIME;
  } else if (format != GST_FORMAT_TIME) {
    GST_WARNING_OBJECT (self, "cannot seek in %s", gst_format_get_name (format));
    return FALSE;
  }

  g_mutex_lock (&self->lock);
  oldest = g_queue_peek_head (&self->clips);
  if (oldest && self->negotiated && start_type == GST_SEEK_TYPE_SET && start >= 0
      && time_to_frame (self, start) < oldest->first) {
    g_mutex_unlock (&self->lock);
    GST_WARNING_OBJECT (self, "the frames at %" GST_TIME_FORMAT " are no longer kept",
        GST_TIME_ARGS (start));
    return FALSE;
  }
  g_mutex_unlock (&self->lock);

  if (flush) {
    GstEvent *flush_start = gst_event_new_flush_start ();
    gst_event_set_seqnum (flush_start, seqnum);
    /* Unblocks a push downstream; the task then sees pause_requested and pauses. The
     * daemon's job goes on: its clip is still part of the timeline. */
    g_mutex_lock (&self->lock);
    self->pause_requested = TRUE;
    g_mutex_unlock (&self->lock);
    wake_task (self);
    gst_pad_push_event (self->srcpad, flush_start);
    gst_pad_pause_task (self->srcpad);
  } else {
    pause_task_now (self);
  }

  GST_PAD_STREAM_LOCK (self->srcpad);
  g_mutex_lock (&self->lock);
  gst_segment_do_seek (&self->segment, rate, format, flags, start_type, start,
      stop_type, stop, NULL);
  if (self->negotiated)
    self->offset = time_to_frame (self, self->segment.start);
  self->need_segment = TRUE;
  self->discont = TRUE;
  self->eos_sent = FALSE;
  self->pause_requested = FALSE;
  self->seqnum = seqnum;
  position = (gint64) self->segment.position;
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
  GST_DEBUG_OBJECT (self, "seek done: %" GST_SEGMENT_FORMAT, &self->segment);
  if (!self->flushing && !self->failed)
    start_task (self);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
src_event (GstPad * pad, GstObject * parent, GstEvent * event)
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

static gboolean
src_activate_mode (GstPad * pad, GstObject * parent, GstPadMode mode, gboolean active)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (parent);

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active) {
    g_mutex_lock (&self->lock);
    reset_stream_locked (self);
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
  wake_task (self);
  g_cancellable_cancel (self->cancellable);
  return gst_pad_stop_task (pad);
}

/* ---- element ---------------------------------------------------------------------------- */

static gboolean
send_event (GstElement * element, GstEvent * event)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (element);

  if (GST_EVENT_TYPE (event) != GST_EVENT_EOS)
    return GST_ELEMENT_CLASS (gst_dynamicrafter_parent_class)->send_event (element, event);

  /* EOS sent to the element itself ends the output now: the job is cancelled, the
   * images still waiting are dropped. */
  GST_DEBUG_OBJECT (self, "direct EOS");
  g_mutex_lock (&self->lock);
  self->direct_eos = TRUE;
  self->pause_requested = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  wake_task (self);
  g_cancellable_cancel (self->cancellable);
  gst_pad_pause_task (self->srcpad);

  drop_job (self, TRUE);
  g_cancellable_reset (self->cancellable);
  g_mutex_lock (&self->lock);
  g_queue_clear_full (&self->requests, (GDestroyNotify) request_free);
  self->pause_requested = FALSE;
  self->eos_sent = TRUE;
  g_mutex_unlock (&self->lock);
  return gst_pad_push_event (self->srcpad, event);
}

static GstStateChangeReturn
change_state (GstElement * element, GstStateChange transition)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (element);
  GstStateChangeReturn result;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    GError *error = NULL;
    gchar *bus, *service;

    GST_OBJECT_LOCK (self);
    bus = g_strdup (self->bus);
    service = g_strdup (self->service_name);
    GST_OBJECT_UNLOCK (self);
    g_cancellable_reset (self->cancellable);
    self->client = dc_client_new (bus, service, self->context, on_job_changed, self,
        self->cancellable, &error);
    g_free (bus);
    g_free (service);
    if (self->client == NULL) {
      post_error (self, error, "connecting to the dynamicrafterd daemon's bus");
      g_error_free (error);
      return GST_STATE_CHANGE_FAILURE;
    }
  }

  result = GST_ELEMENT_CLASS (gst_dynamicrafter_parent_class)->change_state (element,
      transition);

  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY
      || (transition == GST_STATE_CHANGE_READY_TO_PAUSED
          && result == GST_STATE_CHANGE_FAILURE)) {
    /* The pads are down and the task joined. */
    drop_job (self, TRUE);
    g_clear_pointer (&self->client, dc_client_free);
    g_cancellable_reset (self->cancellable);
    g_mutex_lock (&self->lock);
    reset_stream_locked (self);
    self->have_in_info = FALSE;
    g_mutex_unlock (&self->lock);
  }
  return result;
}

static void
set_property (GObject * object, guint id, const GValue * value, GParamSpec * pspec)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (object);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_PROMPT:
      g_free (self->prompt);
      self->prompt = g_value_dup_string (value);
      break;
    case PROP_FRAMES:
      self->frames = g_value_get_uint (value);
      break;
    case PROP_STEPS:
      self->steps = g_value_get_uint (value);
      break;
    case PROP_CACHE_INTERVAL:
      self->cache_interval = g_value_get_uint (value);
      break;
    case PROP_CFG_SCALE:
      self->cfg_scale = g_value_get_double (value);
      break;
    case PROP_IMAGE_CFG_SCALE:
      self->image_cfg_scale = g_value_get_double (value);
      break;
    case PROP_ETA:
      self->eta = g_value_get_double (value);
      break;
    case PROP_SAMPLER:
      self->sampler = g_value_get_enum (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    case PROP_FRAME_STRIDE:
      self->frame_stride = g_value_get_uint (value);
      break;
    case PROP_FPS:
      self->fps = g_value_get_uint (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    case PROP_MODEL:
      g_free (self->model);
      self->model = g_value_dup_string (value);
      break;
    case PROP_BUS:
      g_free (self->bus);
      self->bus = g_value_dup_string (value);
      if (self->bus == NULL)
        self->bus = g_strdup (DEFAULT_BUS);
      break;
    case PROP_SERVICE_NAME:
      g_free (self->service_name);
      self->service_name = g_value_dup_string (value);
      if (self->service_name == NULL)
        self->service_name = g_strdup (DC_SERVICE_NAME);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
get_property (GObject * object, guint id, GValue * value, GParamSpec * pspec)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (object);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_PROMPT:
      g_value_set_string (value, self->prompt);
      break;
    case PROP_FRAMES:
      g_value_set_uint (value, self->frames);
      break;
    case PROP_STEPS:
      g_value_set_uint (value, self->steps);
      break;
    case PROP_CACHE_INTERVAL:
      g_value_set_uint (value, self->cache_interval);
      break;
    case PROP_CFG_SCALE:
      g_value_set_double (value, self->cfg_scale);
      break;
    case PROP_IMAGE_CFG_SCALE:
      g_value_set_double (value, self->image_cfg_scale);
      break;
    case PROP_ETA:
      g_value_set_double (value, self->eta);
      break;
    case PROP_SAMPLER:
      g_value_set_enum (value, self->sampler);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_FRAME_STRIDE:
      g_value_set_uint (value, self->frame_stride);
      break;
    case PROP_FPS:
      g_value_set_uint (value, self->fps);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_MODEL:
      g_value_set_string (value, self->model);
      break;
    case PROP_BUS:
      g_value_set_string (value, self->bus);
      break;
    case PROP_SERVICE_NAME:
      g_value_set_string (value, self->service_name);
      break;
    case PROP_LATENCY:
      g_value_set_uint64 (value, self->latency);
      break;
    case PROP_CLIPS_DONE:
      g_value_set_uint (value, self->clips_done);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
finalize (GObject * object)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (object);

  g_mutex_lock (&self->lock);
  reset_stream_locked (self);
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&self->client, dc_client_free);
  g_main_context_unref (self->context);
  g_object_unref (self->cancellable);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self->prompt);
  g_free (self->model);
  g_free (self->bus);
  g_free (self->service_name);
  G_OBJECT_CLASS (gst_dynamicrafter_parent_class)->finalize (object);
}

static void
gst_dynamicrafter_init (GstDynamiCrafter * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (sink_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (sink_event));
  gst_pad_set_query_function (self->sinkpad, GST_DEBUG_FUNCPTR (sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (self->srcpad, GST_DEBUG_FUNCPTR (src_event));
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (src_query));
  gst_pad_set_activatemode_function (self->srcpad, GST_DEBUG_FUNCPTR (src_activate_mode));
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->requests);
  g_queue_init (&self->clips);
  self->context = g_main_context_new ();
  self->cancellable = g_cancellable_new ();
  self->flushing = TRUE;
  reset_stream_locked (self);

  self->prompt = g_strdup (DEFAULT_PROMPT);
  self->frames = DEFAULT_FRAMES;
  self->steps = DEFAULT_STEPS;
  self->cfg_scale = DEFAULT_CFG_SCALE;
  self->image_cfg_scale = DEFAULT_IMAGE_CFG_SCALE;
  self->eta = DEFAULT_ETA;
  self->sampler = DEFAULT_SAMPLER;
  self->seed = DEFAULT_SEED;
  self->frame_stride = DEFAULT_FRAME_STRIDE;
  self->fps = DEFAULT_FPS;
  self->mode = DEFAULT_MODE;
  self->cache_interval = DEFAULT_CACHE_INTERVAL;
  self->model = NULL;
  self->bus = g_strdup (DEFAULT_BUS);
  self->service_name = g_strdup (DC_SERVICE_NAME);
}

static void
gst_dynamicrafter_class_init (GstDynamiCrafterClass * klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags sampling = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
      | GST_PARAM_MUTABLE_PLAYING;
  const GParamFlags connection = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
      | GST_PARAM_MUTABLE_READY;
  const GParamFlags statistic = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS;

  object_class->set_property = set_property;
  object_class->get_property = get_property;
  object_class->finalize = finalize;

  properties[PROP_PROMPT] = g_param_spec_string ("prompt", "Prompt",
      "Text describing the motion, at most 4096 bytes of UTF-8 (the text encoder reads its "
      "first 77 tokens); empty for none. Read when each image is sent, so it may change "
      "between images", DEFAULT_PROMPT, sampling);
  properties[PROP_FRAMES] = g_param_spec_uint ("frames", "Frames",
      "Frames per clip, 2 to 64; 0 for the model's default (16 for the published "
      "models). In mode loop a clip has one frame fewer", 0, 64, DEFAULT_FRAMES, sampling);
  properties[PROP_STEPS] = g_param_spec_uint ("steps", "Steps",
      "Sampling steps: fewer is faster and rougher (20-25 are the usual counts with a solver sampler)",
      1, 1000, DEFAULT_STEPS,
      sampling);
  properties[PROP_CFG_SCALE] = g_param_spec_double ("cfg-scale", "Guidance scale",
      "Classifier-free guidance scale: how strongly the prompt and image steer the "
      "result; 1 disables guidance (one network pass per step instead of two)", 0, 50,
      DEFAULT_CFG_SCALE, sampling);
  properties[PROP_IMAGE_CFG_SCALE] = g_param_spec_double ("image-cfg-scale",
      "Image guidance scale",
      "A separate guidance scale for the image condition (multi-condition guidance); "
      "-1 for none (plain guidance)", -1, 50, DEFAULT_IMAGE_CFG_SCALE, sampling);
  properties[PROP_ETA] = g_param_spec_double ("eta", "DDIM eta",
      "DDIM eta: 0 is deterministic sampling, 1 the reference's amount of fresh noise "
      "per step. Only for sampler ddim: with a solver, a value other than 0 fails the clip",
      0, 10, DEFAULT_ETA, sampling);
  properties[PROP_SAMPLER] = g_param_spec_enum ("sampler", "Sampler",
      "How the steps are taken: ddim (the reference's), or the deterministic solvers "
      "dpmpp-2m and unipc, which need only 20-25 steps", GST_TYPE_DYNAMICRAFTER_SAMPLER,
      DEFAULT_SAMPLER, sampling);
  properties[PROP_SEED] = g_param_spec_uint64 ("seed", "Seed",
      "Random seed: the same seed, image and settings give the same clip", 0,
      G_MAXUINT64, DEFAULT_SEED, sampling);
  properties[PROP_FRAME_STRIDE] = g_param_spec_uint ("frame-stride", "Frame stride",
      "Motion-speed condition of the 256 model (the daemon's frame-stride); 0 for the "
      "model's default (3). The same condition as fps: set at most one of them", 0, 1000,
      DEFAULT_FRAME_STRIDE, sampling);
  properties[PROP_FPS] = g_param_spec_uint ("fps", "Motion fps",
      "Motion-speed condition of the 512, 512-interp and 1024 models (the daemon's fps); "
      "0 for the model's default (24, 5, 10). It does not set the output frame rate, "
      "which is negotiated with downstream (default: the clip's rate from the daemon)",
      0, 1000, DEFAULT_FPS, sampling);
  properties[PROP_MODE] = g_param_spec_enum ("mode", "Mode",
      "What each clip shows", GST_TYPE_DYNAMICRAFTER_MODE, DEFAULT_MODE, sampling);
  properties[PROP_CACHE_INTERVAL] = g_param_spec_uint ("cache-interval",
      "Step cache interval",
      "Step caching (the daemon's cache-interval): every N-th step runs the whole network, "
      "the steps between reuse its deep features. Faster, approximate (the clip differs "
      "from the uncached one); 0 or 1 for off", 0, 10, DEFAULT_CACHE_INTERVAL, sampling);
  properties[PROP_MODEL] = g_param_spec_string ("model", "Model",
      "Name of the daemon's model to use (as listed by its GetModels); empty for the "
      "daemon's default model", NULL, sampling);
  properties[PROP_BUS] = g_param_spec_string ("bus", "Bus",
      "Where the dynamicrafterd daemon is: session, system, or a D-Bus address such as "
      "unix:path=/run/dynamicrafter/bus", DEFAULT_BUS, connection);
  properties[PROP_SERVICE_NAME] = g_param_spec_string ("service-name", "Service name",
      "Bus name of the daemon", DC_SERVICE_NAME, connection);
  properties[PROP_LATENCY] = g_param_spec_uint64 ("latency", "Clip latency",
      "Processing time of the last clip in nanoseconds, from sending the image to "
      "receiving its frames (0 before the first clip)", 0, G_MAXUINT64, 0, statistic);
  properties[PROP_CLIPS_DONE] = g_param_spec_uint ("clips-done", "Clips done",
      "Clips made since the element was created", 0, G_MAXUINT, 0, statistic);
  g_object_class_install_properties (object_class, N_PROPERTIES, properties);

  element_class->change_state = GST_DEBUG_FUNCPTR (change_state);
  element_class->send_event = GST_DEBUG_FUNCPTR (send_event);

  gst_element_class_set_static_metadata (element_class,
      "DynamiCrafter image animator", "Filter/Effect/Video",
      "Turns each still image into a short animated clip with the DynamiCrafter "
      "image-to-video diffusion model, run by the dynamicrafterd D-Bus service. Output "
      "is RGB at the model's size (or the size downstream asks for), at the clip's "
      "frame rate unless downstream asks for another; timestamps run on across images. "
      "Example: gst-launch-1.0 filesrc location=photo.jpg ! decodebin ! videoconvert ! "
      "dynamicrafter prompt=\"waves crashing\" ! videoconvert ! x264enc bframes=0 ! "
      "mp4mux ! filesink location=clip.mp4",
      "DynamiCrafter for Linux");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  gst_type_mark_as_plugin_api (GST_TYPE_DYNAMICRAFTER_MODE, 0);
}

gboolean
gst_dynamicrafter_register (GstPlugin * plugin)
{
  GST_DEBUG_CATEGORY_INIT (gst_dynamicrafter_debug, "dynamicrafter", 0,
      "DynamiCrafter image animator");
  return gst_element_register (plugin, "dynamicrafter", GST_RANK_NONE,
      GST_TYPE_DYNAMICRAFTER);
}
