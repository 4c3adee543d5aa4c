#define _GNU_SOURCE
#include "dcimage.h"
#include "dcerror.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void
set_errno_error (GError ** error, const gchar * what)
{
  int saved = errno;
  g_set_error (error, DC_ERROR, DC_ERROR_SYSTEM, "%s: %s", what,
      g_strerror (saved));
}

/* Writes the pixels of `frame` as RGB or RGBA rows into `out` (rows `stride` apart). */
static void
copy_as_rgb (const GstVideoFrame * frame, guint8 * out, guint stride,
    gboolean alpha)
{
  const guint width = GST_VIDEO_FRAME_WIDTH (frame);
  const guint height = GST_VIDEO_FRAME_HEIGHT (frame);
  const guint8 *in = GST_VIDEO_FRAME_PLANE_DATA (frame, 0);
  const gint in_stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  const guint pixel = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, 0);
  const guint r = GST_VIDEO_FRAME_COMP_POFFSET (frame, GST_VIDEO_COMP_R);
  const guint g = GST_VIDEO_FRAME_COMP_POFFSET (frame, GST_VIDEO_COMP_G);
  const guint b = GST_VIDEO_FRAME_COMP_POFFSET (frame, GST_VIDEO_COMP_B);
  const guint a = alpha ? GST_VIDEO_FRAME_COMP_POFFSET (frame, GST_VIDEO_COMP_A) : 0;
  const GstVideoFormat format = GST_VIDEO_FRAME_FORMAT (frame);

  for (guint y = 0; y < height; y++) {
    const guint8 *src = in + (gsize) y * in_stride;
    guint8 *dst = out + (gsize) y * stride;
    /* The daemon's own layouts: a straight row copy. */
    if (format == GST_VIDEO_FORMAT_RGB || format == GST_VIDEO_FORMAT_RGBA) {
      memcpy (dst, src, (gsize) width * pixel);
      continue;
    }
    for (guint x = 0; x < width; x++, src += pixel) {
      *dst++ = src[r];
      *dst++ = src[g];
      *dst++ = src[b];
      if (alpha)
        *dst++ = src[a];
    }
  }
}

DcImage *
dc_image_new_from_frame (const GstVideoFrame * frame, GError ** error)
{
  const gboolean alpha = GST_VIDEO_INFO_HAS_ALPHA (&frame->info);
  const guint width = GST_VIDEO_FRAME_WIDTH (frame);
  const guint height = GST_VIDEO_FRAME_HEIGHT (frame);
  const guint stride = width * (alpha ? 4 : 3);
  const gsize size = (gsize) stride * height;
  DcImage *image;
  guint8 *pixels;
  gint fd;

  if (!GST_VIDEO_INFO_IS_RGB (&frame->info) || GST_VIDEO_FRAME_N_PLANES (frame) != 1
      || GST_VIDEO_FRAME_COMP_DEPTH (frame, 0) != 8) {
    g_set_error (error, DC_ERROR, DC_ERROR_INVALID_IMAGE,
        "unsupported input format %s (packed 8-bit RGB formats only)",
        GST_VIDEO_INFO_NAME (&frame->info));
    return NULL;
  }

  fd = memfd_create ("dynamicrafter-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    set_errno_error (error, "memfd_create");
    return NULL;
  }
  if (ftruncate (fd, (off_t) size) != 0) {
    set_errno_error (error, "cannot size the image memfd");
    close (fd);
    return NULL;
  }
  pixels = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (pixels == MAP_FAILED) {
    set_errno_error (error, "cannot map the image memfd");
    close (fd);
    return NULL;
  }
  copy_as_rgb (frame, pixels, stride, alpha);
  munmap (pixels, size);
  /* Sealed, so the daemon may map it without fearing it changes or shrinks under it. */
  if (fcntl (fd, F_ADD_SEALS,
          F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    set_errno_error (error, "cannot seal the image memfd");
    close (fd);
    return NULL;
  }

  image = g_atomic_rc_box_new0 (DcImage);
  image->fd = fd;
  image->format = alpha ? "RGBA" : "RGB";
  image->width = width;
  image->height = height;
  image->stride = stride;
  return image;
}

DcImage *
dc_image_ref (DcImage * image)
{
  return g_atomic_rc_box_acquire (image);
}

static void
dc_image_clear (gpointer data)
{
  DcImage *image = data;
  if (image->fd >= 0)
    close (image->fd);
}

void
dc_image_unref (DcImage * image)
{
  g_atomic_rc_box_release_full (image, dc_image_clear);
}

gboolean
dc_image_rewind (DcImage * image, GError ** error)
{
  if (lseek (image->fd, 0, SEEK_SET) != 0) {
    set_errno_error (error, "cannot rewind the image memfd");
    return FALSE;
  }
  return TRUE;
}

gsize
dc_frames_frame_size (const DcFrames * frames)
{
  return (gsize) frames->width * frames->height * 3;
}

DcFrames *
dc_frames_map (gint fd, guint width, guint height, guint count, guint fps,
    GError ** error)
{
  struct stat st;
  gsize frame_size, size;
  DcFrames *frames;
  void *data;

  /* The contract caps a side at 16384 and a clip at 64 frames; anything beyond that is a
   * broken reply, and checking first keeps the products below from overflowing. */
  if (width == 0 || height == 0 || count == 0 || width > 16384 || height > 16384
      || count > 1024 || fps == 0) {
    g_set_error (error, DC_ERROR, DC_ERROR_PROTOCOL,
        "TakeFrames described an impossible clip: %u×%u, %u frames at %u fps",
        width, height, count, fps);
    close (fd);
    return NULL;
  }
  frame_size = (gsize) width * height * 3;
  size = frame_size * count;
  if (fstat (fd, &st) != 0) {
    set_errno_error (error, "cannot stat the frames descriptor");
    close (fd);
    return NULL;
  }
  if (st.st_size < 0 || (guint64) st.st_size < size) {
    g_set_error (error, DC_ERROR, DC_ERROR_PROTOCOL,
        "the frames descriptor holds %" G_GINT64_FORMAT " bytes, %u frames of "
        "%u×%u RGB need %" G_GSIZE_FORMAT, (gint64) st.st_size, count, width,
        height, size);
    close (fd);
    return NULL;
  }
  data = mmap (NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  close (fd);
  if (data == MAP_FAILED) {
    set_errno_error (error, "cannot map the frames");
    return NULL;
  }
  frames = g_atomic_rc_box_new0 (DcFrames);
  frames->data = data;
  frames->size = size;
  frames->width = width;
  frames->height = height;
  frames->frames = count;
  frames->fps = fps;
  return frames;
}

DcFrames *
dc_frames_ref (DcFrames * frames)
{
  return g_atomic_rc_box_acquire (frames);
}

static void
dc_frames_clear (gpointer data)
{
  DcFrames *frames = data;
  munmap (frames->data, frames->size);
}

void
dc_frames_unref (DcFrames * frames)
{
  g_atomic_rc_box_release_full (frames, dc_frames_clear);
}

/* Bilinear RGB scaling in 16.16 fixed point, pixel centres aligned. */
static void
scale_rgb (const guint8 * src, guint sw, guint sh, gsize sstride,
    guint8 * dst, guint dw, guint dh, gsize dstride)
{
  const gint64 step_x = ((gint64) sw << 16) / dw;
  const gint64 step_y = ((gint64) sh << 16) / dh;

  for (guint y = 0; y < dh; y++) {
    gint64 fy = (gint64) y * step_y + step_y / 2 - (1 << 15);
    guint y0, y1, wy;
    guint8 *out = dst + y * dstride;

    if (fy < 0)
      fy = 0;
    y0 = (guint) (fy >> 16);
    if (y0 >= sh - 1) {
      y0 = y1 = sh - 1;
      wy = 0;
    } else {
      y1 = y0 + 1;
      wy = (guint) (fy & 0xffff);
    }
    for (guint x = 0; x < dw; x++) {
      gint64 fx = (gint64) x * step_x + step_x / 2 - (1 << 15);
      guint x0, x1, wx;

      if (fx < 0)
        fx = 0;
      x0 = (guint) (fx >> 16);
      if (x0 >= sw - 1) {
        x0 = x1 = sw - 1;
        wx = 0;
      } else {
        x1 = x0 + 1;
        wx = (guint) (fx & 0xffff);
      }
      for (guint c = 0; c < 3; c++) {
        const guint64 p00 = src[y0 * sstride + x0 * 3 + c];
        const guint64 p01 = src[y0 * sstride + x1 * 3 + c];
        const guint64 p10 = src[y1 * sstride + x0 * 3 + c];
        const guint64 p11 = src[y1 * sstride + x1 * 3 + c];
        const guint64 top = p00 * (65536 - wx) + p01 * wx;
        const guint64 bottom = p10 * (65536 - wx) + p11 * wx;
        const guint64 value = top * (65536 - wy) + bottom * wy;
        *out++ = (guint8) ((value + (1ull << 31)) >> 32);
      }
    }
  }
}

GstBuffer *
dc_frames_buffer (DcFrames * frames, guint index, const GstVideoInfo * out)
{
  const gsize frame_size = dc_frames_frame_size (frames);
  const guint8 *src = frames->data + frame_size * index;
  const guint width = GST_VIDEO_INFO_WIDTH (out);
  const guint height = GST_VIDEO_INFO_HEIGHT (out);
  const gsize stride = GST_VIDEO_INFO_PLANE_STRIDE (out, 0);
  GstBuffer *buffer;
  GstMapInfo map;

  g_return_val_if_fail (index < frames->frames, NULL);

  if (width == frames->width && height == frames->height
      && stride == (gsize) width * 3 && GST_VIDEO_INFO_SIZE (out) == frame_size) {
    /* Zero copy: the buffer keeps the mapping alive. */
    return gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY,
        (gpointer) src, frame_size, 0, frame_size, dc_frames_ref (frames),
        (GDestroyNotify) dc_frames_unref);
  }

  buffer = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (out), NULL);
  if (buffer == NULL || !gst_buffer_map (buffer, &map, GST_MAP_WRITE)) {
    g_clear_pointer (&buffer, gst_buffer_unref);
    return NULL;
  }
  if (width == frames->width && height == frames->height) {
    /* Same pixels, GStreamer's padded rows (RGB rows round up to 4 bytes). */
    for (guint y = 0; y < height; y++)
      memcpy (map.data + y * stride, src + (gsize) y * width * 3,
          (gsize) width * 3);
  } else {
    scale_rgb (src, frames->width, frames->height, (gsize) frames->width * 3,
        map.data, width, height, stride);
  }
  gst_buffer_unmap (buffer, &map);
  return buffer;
}
