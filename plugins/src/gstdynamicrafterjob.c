/* The dynamicrafter element's daemon jobs, driven by the source task one at a time: send an
 * image with a copy of the settings, wait in the element's GMainContext while the job's
 * signals arrive as progress messages, take the frames onto the timeline. Other threads
 * call gst_dynamicrafter_job_drop only with the task paused or stopped. */
#include "gstdynamicrafterprivate.h"
#include "dcerror.h"

void
gst_dynamicrafter_request_free (GstDynamiCrafterRequest * request)
{
  dc_image_unref (request->image);
  if (request->end_image)
    dc_image_unref (request->end_image);
  g_free (request);
}

/* An element error from a DC_ERROR: the daemon's message for people, its D-Bus error name
 * in the debug text. */
void
gst_dynamicrafter_post_error (GstDynamiCrafter * self, const GError * error,
    const gchar * context)
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

static void
fail (GstDynamiCrafter * self, const GError * error, const gchar * context)
{
  gst_dynamicrafter_post_error (self, error, context);
  gst_dynamicrafter_stop_after_error (self);
}

static void
post_progress (GstDynamiCrafter * self, DcJob * job)
{
  GstStructure *s;
  GstMessage *message;
  gchar *text;

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

  if (job->completed)
    return;                     /* COMPLETE or ERROR follow once the frames are taken */
  if (job->remaining_seconds >= 0)
    text = g_strdup_printf ("clip %u: %s, step %u of %u, %.1f s left", self->job_clip,
        job->stage, job->step, job->total_steps, job->remaining_seconds);
  else
    text = g_strdup_printf ("clip %u: %s, step %u of %u", self->job_clip,
        *job->stage ? job->stage : job->state, job->step, job->total_steps);
  message = gst_message_new_progress (GST_OBJECT (self), GST_PROGRESS_TYPE_CONTINUE,
      "animate", text);
  gst_structure_set (gst_message_writable_structure (message), "percent", G_TYPE_INT,
      (gint) CLAMP (job->progress * 100.0, 0, 100), NULL);
  gst_element_post_message (GST_ELEMENT (self), message);
  g_free (text);
}

/* The client's DcJobChanged, dispatched in the task's GMainContext. */
void
gst_dynamicrafter_job_changed (DcJob * job, gpointer user_data)
{
  post_progress (GST_DYNAMICRAFTER (user_data), job);
}

static GVariantBuilder *
animate_options (const GstDynamiCrafterSettings * settings)
{
  GVariantBuilder *options = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  static const gchar *mode_names[] = { NULL, "animate", "interpolate", "loop" };
  static const gchar *sampler_names[] = { "ddim", "dpmpp-2m", "unipc" };

  g_variant_builder_add (options, "{sv}", "prompt",
      g_variant_new_string (settings->prompt ? settings->prompt : ""));
  if (settings->frames > 0)
    g_variant_builder_add (options, "{sv}", "frames",
        g_variant_new_uint32 (settings->frames));
  g_variant_builder_add (options, "{sv}", "steps", g_variant_new_uint32 (settings->steps));
  g_variant_builder_add (options, "{sv}", "cfg-scale",
      g_variant_new_double (settings->cfg_scale));
  if (settings->image_cfg_scale >= 0)
    g_variant_builder_add (options, "{sv}", "image-cfg-scale",
        g_variant_new_double (settings->image_cfg_scale));
  /* eta is DDIM's: with a solver it is sent only when changed, and the daemon refuses any
   * value but 0 (an element error then) rather than ignoring it. The default sampler is left
   * out, so daemons without the option still serve DDIM. */
  if (settings->sampler == GST_DYNAMICRAFTER_SAMPLER_DDIM || settings->eta != DEFAULT_ETA)
    g_variant_builder_add (options, "{sv}", "eta", g_variant_new_double (settings->eta));
  if (settings->sampler != GST_DYNAMICRAFTER_SAMPLER_DDIM)
    g_variant_builder_add (options, "{sv}", "sampler",
        g_variant_new_string (sampler_names[settings->sampler]));
  g_variant_builder_add (options, "{sv}", "seed", g_variant_new_uint64 (settings->seed));
  /* Both keys may be set; the daemon refuses that with a message saying so. */
  if (settings->frame_stride > 0)
    g_variant_builder_add (options, "{sv}", "frame-stride",
        g_variant_new_uint32 (settings->frame_stride));
  if (settings->fps > 0)
    g_variant_builder_add (options, "{sv}", "fps", g_variant_new_uint32 (settings->fps));
  if (mode_names[settings->mode])
    g_variant_builder_add (options, "{sv}", "mode",
        g_variant_new_string (mode_names[settings->mode]));
  if (settings->model && *settings->model)
    g_variant_builder_add (options, "{sv}", "model",
        g_variant_new_string (settings->model));
  /* 0 and 1 are off: then the daemon's default (off) applies. */
  if (settings->cache_interval > 1)
    g_variant_builder_add (options, "{sv}", "cache-interval",
        g_variant_new_uint32 (settings->cache_interval));
  return options;
}

/* Sends the request's image(s) to the daemon; takes `request`. Called from the task. */
void
gst_dynamicrafter_job_start (GstDynamiCrafter * self, GstDynamiCrafterRequest * request)
{
  GstDynamiCrafterSettings settings;
  GVariantBuilder *options;
  GError *error = NULL;
  DcJob *job;
  gchar *context;

  GST_OBJECT_LOCK (self);
  gst_dynamicrafter_settings_copy (&settings, &self->settings);
  GST_OBJECT_UNLOCK (self);
  options = animate_options (&settings);

  GST_DEBUG_OBJECT (self, "sending image %u (%ux%u %s) to the daemon", request->clip,
      request->image->width, request->image->height, request->image->format);
  job = dc_client_animate (self->client, request->image, request->end_image, options,
      self->cancellable, &error);
  g_variant_builder_unref (options);
  if (job == NULL) {
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      /* Stopping: the caller of the cancel cleans up. */
      g_error_free (error);
      goto done;
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
    goto done;
  }
  self->job = job;
  self->job_clip = request->clip;
  /* The job's TotalSteps is its steps option; known before the daemon says it. */
  job->total_steps = settings.steps;
  GST_DEBUG_OBJECT (self, "image %u is job %s", request->clip, job->path);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_progress (GST_OBJECT (self), GST_PROGRESS_TYPE_START, "animate",
          job->path));
  post_progress (self, job);

done:
  gst_dynamicrafter_settings_clear (&settings);
  gst_dynamicrafter_request_free (request);
}

static void
finish_job (GstDynamiCrafter * self)
{
  DcJob *job = self->job;
  GError *error = NULL;
  DcFrames *frames = NULL;
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

  gst_dynamicrafter_record_clip (self, latency);
  gst_dynamicrafter_timeline_append (self, frames);
}

/* One wait for the current job: finishes it when it completed, else dispatches its
 * signals or the poll timer, or returns when the task is woken. */
void
gst_dynamicrafter_job_wait (GstDynamiCrafter * self)
{
  DcJob *job = self->job;

  if (!job->completed && dc_client_take_poll_due (self->client))
    dc_client_poll (self->client, job, self->cancellable);
  if (job->completed) {
    finish_job (self);
    return;
  }
  g_main_context_iteration (self->context, TRUE);
}

/* Abandons the daemon job, if any. Called with the task stopped or paused. */
void
gst_dynamicrafter_job_drop (GstDynamiCrafter * self, gboolean cancel)
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
