/* The dynamicrafter element: each still image on the sink pad leaves the source pad as a
 * short animated clip, made by the dynamicrafterd daemon over D-Bus. */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include "dcclient.h"

G_BEGIN_DECLS

#define GST_TYPE_DYNAMICRAFTER (gst_dynamicrafter_get_type ())
G_DECLARE_FINAL_TYPE (GstDynamiCrafter, gst_dynamicrafter, GST, DYNAMICRAFTER,
    GstElement)

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

struct _GstDynamiCrafter {
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* Properties, under the object lock. */
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
  gchar *model;
  gchar *bus;
  gchar *service_name;
  GstClockTime latency;
  guint clips_done;

  /* Streaming state shared by the sink's streaming thread, the source task and the
   * application's thread (seeks, state changes), under `lock`. */
  GMutex lock;
  GCond cond;                   /* room in `requests`, or a reason to stop waiting */
  gboolean flushing;            /* stopping or flushed from upstream: everything halts */
  gboolean pause_requested;     /* a seek or direct EOS wants the task paused */
  gboolean direct_eos;          /* EOS sent to the element itself */
  gboolean sink_eos;            /* upstream has no more images */
  gboolean failed;              /* an error was posted; refuse more input */
  gboolean eos_sent;
  gboolean have_in_info;
  GstVideoInfo in_info;
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

  /* The daemon side. The source task is its only user while it runs; other threads touch
   * it only with the task paused or stopped. `context` dispatches the job signals and is
   * where the task waits, woken by g_main_context_wakeup. */
  GMainContext *context;
  GCancellable *cancellable;
  DcClient *client;
  DcJob *job;
  guint job_clip;
};

gboolean gst_dynamicrafter_register (GstPlugin * plugin);

G_END_DECLS
