/**
 * SECTION:element-dynamicrafter
 * @title: dynamicrafter
 *
 * dynamicrafter turns every still image that reaches it into a short animated clip, made
 * with the DynamiCrafter image-to-video diffusion model by the dynamicrafterd daemon,
 * which the element reaches over D-Bus (on the session bus by default, where D-Bus
 * activation starts it). Images and frames travel as memfds.
 *
 * One buffer on the sink pad is one image, in any packed 8-bit RGB-family format. The
 * source pad gives RGB at the model's size and the clip's frame rate unless downstream
 * asks for another size or rate. Timestamps run on across images and every clip starts
 * with a DISCONT frame; flushing seeks replay the clips still kept. The properties mirror
 * the daemon's options. Progress is posted as `dynamicrafter-progress` element messages
 * and as progress messages; the daemon's errors become element errors.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=photo.jpg ! decodebin ! videoconvert ! \
 *   dynamicrafter prompt="waves crashing" ! videoconvert ! x264enc bframes=0 ! mp4mux ! \
 *   filesink location=clip.mp4
 * ]| A photo to an MP4 clip.
 * |[
 * gst-launch-1.0 multifilesrc location=photos/img-%03d.png caps=image/png,framerate=1/1 ! \
 *   pngdec ! videoconvert ! dynamicrafter prompt="clouds drifting" ! videoconvert ! \
 *   vp8enc deadline=1 ! webmmux ! filesink location=clips.webm
 * ]| A folder of images (img-000.png, img-001.png, …) to one WebM file: a clip per image,
 * one after the other.
 * |[
 * gst-launch-1.0 filesrc location=photo.png ! decodebin ! videoconvert ! dynamicrafter ! \
 *   videoconvert ! pngenc ! multifilesink location=frame-%03d.png
 * ]| An image to PNG frames.
 */

/* Threads: upstream's streaming thread runs the sink chain, which turns each image into a
 * sealed memfd and queues a request (blocking while one is already waiting, so memory
 * stays bounded and upstream feels the back-pressure). The source pad's task
 * (gstdynamicraftersrc.c) sends the requests to the daemon one at a time. Seeks, flushes,
 * direct EOS and state changes pause or stop that task first, waking it with
 * g_main_context_wakeup and cancelling any D-Bus call in flight, and only then touch the
 * daemon side. */
#include "gstdynamicrafterprivate.h"
#include "dcerror.h"

GST_DEBUG_CATEGORY (gst_dynamicrafter_debug);

/* Images waiting beyond the one the daemon works on. */
#define MAX_WAITING_REQUESTS 1

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
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (dynamicrafter, "dynamicrafter", GST_RANK_NONE,
    GST_TYPE_DYNAMICRAFTER,
    GST_DEBUG_CATEGORY_INIT (gst_dynamicrafter_debug, "dynamicrafter", 0,
        "DynamiCrafter image animator"));

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

/* ---- settings and state ------------------------------------------------------------ */

static void
settings_init (GstDynamiCrafterSettings * settings)
{
  settings->prompt = g_strdup (DEFAULT_PROMPT);
  settings->frames = DEFAULT_FRAMES;
  settings->steps = DEFAULT_STEPS;
  settings->cfg_scale = DEFAULT_CFG_SCALE;
  settings->image_cfg_scale = DEFAULT_IMAGE_CFG_SCALE;
  settings->eta = DEFAULT_ETA;
  settings->sampler = DEFAULT_SAMPLER;
  settings->seed = DEFAULT_SEED;
  settings->frame_stride = DEFAULT_FRAME_STRIDE;
  settings->fps = DEFAULT_FPS;
  settings->mode = DEFAULT_MODE;
  settings->cache_interval = DEFAULT_CACHE_INTERVAL;
  settings->model = NULL;
  settings->bus = g_strdup (DEFAULT_BUS);
  settings->service_name = g_strdup (DC_SERVICE_NAME);
}

void
gst_dynamicrafter_settings_copy (GstDynamiCrafterSettings * dest,
    const GstDynamiCrafterSettings * src)
{
  *dest = *src;
  dest->prompt = g_strdup (src->prompt);
  dest->model = g_strdup (src->model);
  dest->bus = g_strdup (src->bus);
  dest->service_name = g_strdup (src->service_name);
}

void
gst_dynamicrafter_settings_clear (GstDynamiCrafterSettings * settings)
{
  g_clear_pointer (&settings->prompt, g_free);
  g_clear_pointer (&settings->model, g_free);
  g_clear_pointer (&settings->bus, g_free);
  g_clear_pointer (&settings->service_name, g_free);
}

/* Clears everything that belongs to one stream. Called with the task stopped or paused
 * and the lock held. */
void
gst_dynamicrafter_state_reset_locked (GstDynamiCrafter * self)
{
  GstDynamiCrafterState *state = &self->state;

  g_queue_clear_full (&state->requests, (GDestroyNotify) gst_dynamicrafter_request_free);
  g_clear_pointer (&state->previous, dc_image_unref);
  g_queue_clear_full (&state->clips, (GDestroyNotify) gst_dynamicrafter_clip_free);
  state->next_clip = 0;
  state->timeline_end = 0;
  state->retained_bytes = 0;
  gst_segment_init (&state->segment, GST_FORMAT_TIME);
  state->need_segment = TRUE;
  state->discont = TRUE;
  state->seqnum = 0;
  state->offset = 0;
  state->negotiated = FALSE;
  state->fps_n = 0;
  state->fps_d = 1;
  state->sink_eos = FALSE;
  state->direct_eos = FALSE;
  state->failed = FALSE;
  state->eos_sent = FALSE;
  state->pause_requested = FALSE;
}

/* Counts a finished clip in the read-only statistics. */
void
gst_dynamicrafter_record_clip (GstDynamiCrafter * self, GstClockTime latency)
{
  GST_OBJECT_LOCK (self);
  self->latency = latency;
  self->clips_done++;
  GST_OBJECT_UNLOCK (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LATENCY]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CLIPS_DONE]);
}

/* ---- sink pad ----------------------------------------------------------------------- */

static GstFlowReturn
gst_dynamicrafter_sink_chain (GstPad * pad, GstObject * parent, GstBuffer * buffer)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (parent);
  GstDynamiCrafterState *state = &self->state;
  GstVideoInfo info;
  GstVideoFrame frame;
  GstDynamiCrafterRequest *request = NULL;
  GstDynamiCrafterMode mode;
  GstFlowReturn flow = GST_FLOW_OK;
  GError *error = NULL;
  gboolean mismatch = FALSE;
  DcImage *image;

  g_mutex_lock (&self->lock);
  if (state->failed)
    flow = GST_FLOW_ERROR;
  else if (state->direct_eos)
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
    gst_dynamicrafter_post_error (self, error, "cannot prepare the image for the daemon");
    g_error_free (error);
    return GST_FLOW_ERROR;
  }

  GST_OBJECT_LOCK (self);
  mode = self->settings.mode;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->lock);
  while (!self->flushing && !state->direct_eos && !state->failed
      && g_queue_get_length (&state->requests) >= MAX_WAITING_REQUESTS)
    g_cond_wait (&self->cond, &self->lock);
  if (state->failed || state->direct_eos || self->flushing) {
    flow = state->failed ? GST_FLOW_ERROR : state->direct_eos ? GST_FLOW_EOS :
        GST_FLOW_FLUSHING;
    g_mutex_unlock (&self->lock);
    dc_image_unref (image);
    return flow;
  }
  if (mode != GST_DYNAMICRAFTER_MODE_INTERPOLATE || state->previous) {
    request = g_new0 (GstDynamiCrafterRequest, 1);
    request->clip = state->next_clip++;
    if (mode == GST_DYNAMICRAFTER_MODE_INTERPOLATE) {
      request->image = dc_image_ref (state->previous);
      request->end_image = dc_image_ref (image);
      /* The daemon reads the end image with the start image's raw-pixel options. */
      mismatch = request->image->width != image->width
          || request->image->height != image->height
          || request->image->stride != image->stride;
    } else {
      request->image = dc_image_ref (image);
    }
    g_queue_push_tail (&state->requests, request);
    if (!state->pause_requested && !state->eos_sent)
      gst_dynamicrafter_start_task (self);
  }
  /* Kept whatever the mode, so that switching to interpolate mid-stream has a start. */
  g_clear_pointer (&state->previous, dc_image_unref);
  state->previous = image;
  g_mutex_unlock (&self->lock);

  if (mismatch)
    GST_ELEMENT_WARNING (self, STREAM, FORMAT,
        ("Interpolation needs consecutive images of the same size and format"),
        ("an image of %ux%u %s follows one of another size or format", image->width,
            image->height, image->format));
  gst_dynamicrafter_wake_task (self);
  return GST_FLOW_OK;
}

static gboolean
gst_dynamicrafter_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
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
      self->state.sink_eos = TRUE;
      if (!self->state.pause_requested && !self->flushing)
        gst_dynamicrafter_start_task (self);
      g_mutex_unlock (&self->lock);
      gst_dynamicrafter_wake_task (self);
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_FLUSH_START:
      g_mutex_lock (&self->lock);
      self->flushing = TRUE;
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
      gst_dynamicrafter_wake_task (self);
      g_cancellable_cancel (self->cancellable);
      gst_pad_push_event (self->srcpad, event);
      gst_pad_pause_task (self->srcpad);
      /* The task is paused: the daemon side is ours. New images, new stream. */
      gst_dynamicrafter_job_drop (self, TRUE);
      g_mutex_lock (&self->lock);
      gst_dynamicrafter_state_reset_locked (self);
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
gst_dynamicrafter_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
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

/* ---- element ------------------------------------------------------------------------ */

static gboolean
gst_dynamicrafter_send_event (GstElement * element, GstEvent * event)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (element);

  if (GST_EVENT_TYPE (event) != GST_EVENT_EOS)
    return GST_ELEMENT_CLASS (gst_dynamicrafter_parent_class)->send_event (element, event);

  /* EOS sent to the element itself ends the output now: the job is cancelled, the
   * images still waiting are dropped. */
  GST_DEBUG_OBJECT (self, "direct EOS");
  g_mutex_lock (&self->lock);
  self->state.direct_eos = TRUE;
  self->state.pause_requested = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  gst_dynamicrafter_wake_task (self);
  g_cancellable_cancel (self->cancellable);
  gst_pad_pause_task (self->srcpad);

  gst_dynamicrafter_job_drop (self, TRUE);
  g_cancellable_reset (self->cancellable);
  g_mutex_lock (&self->lock);
  g_queue_clear_full (&self->state.requests,
      (GDestroyNotify) gst_dynamicrafter_request_free);
  self->state.pause_requested = FALSE;
  self->state.eos_sent = TRUE;
  g_mutex_unlock (&self->lock);
  return gst_pad_push_event (self->srcpad, event);
}

static GstStateChangeReturn
gst_dynamicrafter_change_state (GstElement * element, GstStateChange transition)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (element);
  GstStateChangeReturn result;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    GError *error = NULL;
    gchar *bus, *service;

    GST_OBJECT_LOCK (self);
    bus = g_strdup (self->settings.bus);
    service = g_strdup (self->settings.service_name);
    GST_OBJECT_UNLOCK (self);
    g_cancellable_reset (self->cancellable);
    self->client = dc_client_new (bus, service, self->context,
        gst_dynamicrafter_job_changed, self, self->cancellable, &error);
    g_free (bus);
    g_free (service);
    if (self->client == NULL) {
      gst_dynamicrafter_post_error (self, error,
          "connecting to the dynamicrafterd daemon's bus");
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
    gst_dynamicrafter_job_drop (self, TRUE);
    g_clear_pointer (&self->client, dc_client_free);
    g_cancellable_reset (self->cancellable);
    g_mutex_lock (&self->lock);
    gst_dynamicrafter_state_reset_locked (self);
    self->have_in_info = FALSE;
    g_mutex_unlock (&self->lock);
  }
  return result;
}

static void
gst_dynamicrafter_set_property (GObject * object, guint id, const GValue * value,
    GParamSpec * pspec)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (object);
  GstDynamiCrafterSettings *settings = &self->settings;

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_PROMPT:
      g_free (settings->prompt);
      settings->prompt = g_value_dup_string (value);
      break;
    case PROP_FRAMES:
      settings->frames = g_value_get_uint (value);
      break;
    case PROP_STEPS:
      settings->steps = g_value_get_uint (value);
      break;
    case PROP_CACHE_INTERVAL:
      settings->cache_interval = g_value_get_uint (value);
      break;
    case PROP_CFG_SCALE:
      settings->cfg_scale = g_value_get_double (value);
      break;
    case PROP_IMAGE_CFG_SCALE:
      settings->image_cfg_scale = g_value_get_double (value);
      break;
    case PROP_ETA:
      settings->eta = g_value_get_double (value);
      break;
    case PROP_SAMPLER:
      settings->sampler = g_value_get_enum (value);
      break;
    case PROP_SEED:
      settings->seed = g_value_get_uint64 (value);
      break;
    case PROP_FRAME_STRIDE:
      settings->frame_stride = g_value_get_uint (value);
      break;
    case PROP_FPS:
      settings->fps = g_value_get_uint (value);
      break;
    case PROP_MODE:
      settings->mode = g_value_get_enum (value);
      break;
    case PROP_MODEL:
      g_free (settings->model);
      settings->model = g_value_dup_string (value);
      break;
    case PROP_BUS:
      g_free (settings->bus);
      settings->bus = g_value_dup_string (value);
      if (settings->bus == NULL)
        settings->bus = g_strdup (DEFAULT_BUS);
      break;
    case PROP_SERVICE_NAME:
      g_free (settings->service_name);
      settings->service_name = g_value_dup_string (value);
      if (settings->service_name == NULL)
        settings->service_name = g_strdup (DC_SERVICE_NAME);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_dynamicrafter_get_property (GObject * object, guint id, GValue * value,
    GParamSpec * pspec)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (object);
  const GstDynamiCrafterSettings *settings = &self->settings;

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_PROMPT:
      g_value_set_string (value, settings->prompt);
      break;
    case PROP_FRAMES:
      g_value_set_uint (value, settings->frames);
      break;
    case PROP_STEPS:
      g_value_set_uint (value, settings->steps);
      break;
    case PROP_CACHE_INTERVAL:
      g_value_set_uint (value, settings->cache_interval);
      break;
    case PROP_CFG_SCALE:
      g_value_set_double (value, settings->cfg_scale);
      break;
    case PROP_IMAGE_CFG_SCALE:
      g_value_set_double (value, settings->image_cfg_scale);
      break;
    case PROP_ETA:
      g_value_set_double (value, settings->eta);
      break;
    case PROP_SAMPLER:
      g_value_set_enum (value, settings->sampler);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, settings->seed);
      break;
    case PROP_FRAME_STRIDE:
      g_value_set_uint (value, settings->frame_stride);
      break;
    case PROP_FPS:
      g_value_set_uint (value, settings->fps);
      break;
    case PROP_MODE:
      g_value_set_enum (value, settings->mode);
      break;
    case PROP_MODEL:
      g_value_set_string (value, settings->model);
      break;
    case PROP_BUS:
      g_value_set_string (value, settings->bus);
      break;
    case PROP_SERVICE_NAME:
      g_value_set_string (value, settings->service_name);
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
gst_dynamicrafter_finalize (GObject * object)
{
  GstDynamiCrafter *self = GST_DYNAMICRAFTER (object);

  g_mutex_lock (&self->lock);
  gst_dynamicrafter_state_reset_locked (self);
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&self->client, dc_client_free);
  g_main_context_unref (self->context);
  g_object_unref (self->cancellable);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  gst_dynamicrafter_settings_clear (&self->settings);
  G_OBJECT_CLASS (gst_dynamicrafter_parent_class)->finalize (object);
}

static void
gst_dynamicrafter_init (GstDynamiCrafter * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_dynamicrafter_sink_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_dynamicrafter_sink_event));
  gst_pad_set_query_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_dynamicrafter_sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (self->srcpad,
      GST_DEBUG_FUNCPTR (gst_dynamicrafter_src_event));
  gst_pad_set_query_function (self->srcpad,
      GST_DEBUG_FUNCPTR (gst_dynamicrafter_src_query));
  gst_pad_set_activatemode_function (self->srcpad,
      GST_DEBUG_FUNCPTR (gst_dynamicrafter_src_activate_mode));
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->state.requests);
  g_queue_init (&self->state.clips);
  self->context = g_main_context_new ();
  self->cancellable = g_cancellable_new ();
  self->flushing = TRUE;
  gst_dynamicrafter_state_reset_locked (self);
  settings_init (&self->settings);
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

  object_class->set_property = gst_dynamicrafter_set_property;
  object_class->get_property = gst_dynamicrafter_get_property;
  object_class->finalize = gst_dynamicrafter_finalize;

  properties[PROP_PROMPT] = g_param_spec_string ("prompt", "Prompt",
      "Text describing the motion, at most 4096 bytes of UTF-8 (the text encoder reads its "
      "first 77 tokens); empty for none. Read when each image is sent, so it may change "
      "between images", DEFAULT_PROMPT, sampling);
  properties[PROP_FRAMES] = g_param_spec_uint ("frames", "Frames",
      "Frames per clip, 2 to 64; 0 for the model's default (16 for the published "
      "models). In mode loop a clip has one frame fewer", 0, 64, DEFAULT_FRAMES, sampling);
  properties[PROP_STEPS] = g_param_spec_uint ("steps", "Steps",
      "Sampling steps: fewer is faster and rougher (20-25 are the usual counts with a "
      "solver sampler)", 1, 1000, DEFAULT_STEPS, sampling);
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

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_dynamicrafter_change_state);
  element_class->send_event = GST_DEBUG_FUNCPTR (gst_dynamicrafter_send_event);

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
  gst_type_mark_as_plugin_api (GST_TYPE_DYNAMICRAFTER_SAMPLER, 0);
}
