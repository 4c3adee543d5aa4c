/* What the dynamicrafter element's files share; nothing here is part of the plugin's API.
 *
 *   gstdynamicrafter.c          the element: properties, pads' setup, sink side, states
 *   gstdynamicraftertimeline.c  the output timeline: retained clips, frames and times
 *   gstdynamicraftersrc.c       the source side: its task, pushing, negotiation, seeks
 *   gstdynamicrafterjob.c       the daemon jobs: start, wait, finish, progress, errors
 *
 * The instance struct lives here rather than in gstdynamicrafter.h because all four files
 * use its fields; the public header declares the type only. */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include "dcclient.h"
#include "gstdynamicrafter.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_dynamicrafter_debug);
#define GST_CAT_DEFAULT gst_dynamicrafter_debug

#define GST_TYPE_DYNAMICRAFTER_MODE (gst_dynamicrafter_mode_get_type ())
GType gst_dynamicrafter_mode_get_type (void);

typedef enum {
  GST_DYNAMICRAFTER_MODE_DEFAULT,
  GST_DYNAMICRAFTER_MODE_ANIMATE,
  GST_DYNAMICRAFTER_MODE_INTERPOLATE,
  GST_DYNAMICRAFTER_MODE_LOOP,
} GstDynamiCrafterMode;

#define GST_TYPE_DYNAMICRAFTER_SAMPLER (gst_dynamicrafter_sampler_get_type ())
GType gst_dynamicrafter_sampler_get_type (void);

typedef enum {
  GST_DYNAMICRAFTER_SAMPLER_DDIM,
  GST_DYNAMICRAFTER_SAMPLER_DPMPP_2M,
  GST_DYNAMICRAFTER_SAMPLER_UNIPC,
} GstDynamiCrafterSampler;

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

/* The writable properties, under the object lock. A job works from a copy taken when it
 * starts, so that a property set meanwhile neither races with it nor changes it halfway. */
typedef struct {
  gchar *prompt;
  guint frames;
  guint steps;
  gdouble cfg_scale;
  gdouble image_cfg_scale;
  gdouble eta;
  GstDynamiCrafterSampler sampler;
  guint64 seed;
  guint frame_stride;
  guint fps;
  GstDynamiCrafterMode mode;
  guint cache_interval;
  gchar *model;                 /* NULL or empty: the daemon's default */
  gchar *bus;
  gchar *service_name;
} GstDynamiCrafterSettings;

/* A still image waiting for its job; `end_image` for mode interpolate. */
typedef struct {
  DcImage *image;
  DcImage *end_image;
  guint clip;                   /* clip number in this stream, from 0 */
} GstDynamiCrafterRequest;

/* A finished clip placed on the output timeline: frame k of it is output frame first + k. */
typedef struct {
  DcFrames *frames;
  guint64 first;
} GstDynamiCrafterClip;

/* One stream, under `lock`; reset on stop and on a flush from upstream. */
typedef struct {
  gboolean pause_requested;     /* a seek or direct EOS wants the task paused */
  gboolean direct_eos;          /* EOS sent to the element itself */
  gboolean sink_eos;            /* upstream has no more images */
  gboolean failed;              /* an error was posted; refuse more input */
  gboolean eos_sent;
  GQueue requests;              /* GstDynamiCrafterRequest*, first in first out */
  DcImage *previous;            /* the last image, start of the next interpolation */
  guint next_clip;
  GQueue clips;                 /* GstDynamiCrafterClip*, oldest first */
  guint64 timeline_end;         /* output frames made so far */
  gsize retained_bytes;
  GstSegment segment;
  gboolean need_segment;
  gboolean discont;             /* next pushed frame follows a new segment */
  guint32 seqnum;
  guint64 offset;               /* the next output frame */
  gboolean negotiated;
  gint fps_n;
  gint fps_d;
  GstVideoInfo out_info;
} GstDynamiCrafterState;

struct _GstDynamiCrafter {
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* Under the object lock. The statistics count across streams. */
  GstDynamiCrafterSettings settings;
  GstClockTime latency;
  guint clips_done;

  /* Shared by the sink's streaming thread, the source task and the application's thread
   * (seeks, state changes), under `lock`. `flushing` follows the pads and the input caps
   * are sticky, so both outlive a reset of `state`. */
  GMutex lock;
  GCond cond;                   /* room in `requests`, or a reason to stop waiting */
  gboolean flushing;            /* stopping or flushed from upstream: everything halts */
  gboolean have_in_info;
  GstVideoInfo in_info;
  GstDynamiCrafterState state;

  /* The daemon side. The source task is its only user while it runs; other threads touch
   * it only with the task paused or stopped. `context` dispatches the job signals and is
   * where the task waits, woken by g_main_context_wakeup. */
  GMainContext *context;
  GCancellable *cancellable;
  DcClient *client;
  DcJob *job;
  guint job_clip;
};

/* gstdynamicrafter.c */
void gst_dynamicrafter_settings_copy (GstDynamiCrafterSettings * dest,
    const GstDynamiCrafterSettings * src);
void gst_dynamicrafter_settings_clear (GstDynamiCrafterSettings * settings);
void gst_dynamicrafter_state_reset_locked (GstDynamiCrafter * self);
void gst_dynamicrafter_record_clip (GstDynamiCrafter * self, GstClockTime latency);

/* gstdynamicraftertimeline.c; `_locked` functions want `lock` held. */
void gst_dynamicrafter_clip_free (GstDynamiCrafterClip * clip);
GstClockTime gst_dynamicrafter_frame_time_locked (GstDynamiCrafter * self,
    guint64 frame);
guint64 gst_dynamicrafter_time_to_frame_locked (GstDynamiCrafter * self,
    GstClockTime time);
gboolean gst_dynamicrafter_convert (GstDynamiCrafter * self, GstFormat src_format,
    gint64 src_value, GstFormat dest_format, gint64 * dest_value);
GstDynamiCrafterClip *gst_dynamicrafter_clip_at_locked (GstDynamiCrafter * self,
    guint64 frame);
void gst_dynamicrafter_timeline_append (GstDynamiCrafter * self, DcFrames * frames);
gboolean gst_dynamicrafter_timeline_dropped_locked (GstDynamiCrafter * self,
    GstClockTime time);

/* gstdynamicraftersrc.c */
void gst_dynamicrafter_wake_task (GstDynamiCrafter * self);
void gst_dynamicrafter_start_task (GstDynamiCrafter * self);
void gst_dynamicrafter_stop_after_error (GstDynamiCrafter * self);
gboolean gst_dynamicrafter_src_event (GstPad * pad, GstObject * parent,
    GstEvent * event);
gboolean gst_dynamicrafter_src_query (GstPad * pad, GstObject * parent,
    GstQuery * query);
gboolean gst_dynamicrafter_src_activate_mode (GstPad * pad, GstObject * parent,
    GstPadMode mode, gboolean active);

/* gstdynamicrafterjob.c */
void gst_dynamicrafter_request_free (GstDynamiCrafterRequest * request);
void gst_dynamicrafter_job_start (GstDynamiCrafter * self,
    GstDynamiCrafterRequest * request);
void gst_dynamicrafter_job_wait (GstDynamiCrafter * self);
void gst_dynamicrafter_job_drop (GstDynamiCrafter * self, gboolean cancel);
void gst_dynamicrafter_job_changed (DcJob * job, gpointer user_data);
void gst_dynamicrafter_post_error (GstDynamiCrafter * self, const GError * error,
    const gchar * context);

G_END_DECLS
