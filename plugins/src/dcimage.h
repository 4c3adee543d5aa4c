/* Pixels crossing the bus: still images going to the daemon as sealed memfds, and the
 * clips coming back (TakeFrames' memfd, mapped read-only and handed out as GstBuffers
 * without copying whenever the negotiated output allows it). */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

/* One still image as raw pixels in a sealed memfd, as Animate's raw-pixel options describe
 * it. Reference counted: an image can be the end of one interpolation and the start of
 * the next. */
typedef struct {
  gint fd;
  const gchar *format;          /* "RGB" or "RGBA" */
  guint width;
  guint height;
  guint stride;                 /* bytes per row, rows tightly packed */
} DcImage;

/* Copies a mapped frame of any packed 8-bit RGB-family format into a new sealed memfd:
 * RGBA when the format has alpha, RGB otherwise. */
DcImage *dc_image_new_from_frame (const GstVideoFrame * frame, GError ** error);
DcImage *dc_image_ref (DcImage * image);
void dc_image_unref (DcImage * image);
/* The daemon reads "from the current position to the end", and a descriptor passed over
 * the bus shares its position with ours: rewind before every send. */
gboolean dc_image_rewind (DcImage * image, GError ** error);

/* A finished clip: `frames` frames of tightly packed RGB, mapped from the daemon's memfd. */
typedef struct {
  guint8 *data;
  gsize size;
  guint width;
  guint height;
  guint frames;
  guint fps;
} DcFrames;

/* Maps the frames in `fd` (which is closed). Checks the descriptor holds at least
 * width × height × 3 × frames bytes. */
DcFrames *dc_frames_map (gint fd, guint width, guint height, guint frames,
    guint fps, GError ** error);
DcFrames *dc_frames_ref (DcFrames * frames);
void dc_frames_unref (DcFrames * frames);
gsize dc_frames_frame_size (const DcFrames * frames);

/* Frame `index` as a buffer laid out as `out` (RGB) describes: wraps the mapping when
 * the size and stride agree, otherwise scales (bilinear) or re-strides into a new buffer. */
GstBuffer *dc_frames_buffer (DcFrames * frames, guint index,
    const GstVideoInfo * out);

G_END_DECLS
