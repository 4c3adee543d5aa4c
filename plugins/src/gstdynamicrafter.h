/* The dynamicrafter element: each still image on the sink pad leaves the source pad as a
 * short animated clip, made by the dynamicrafterd daemon over D-Bus. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_DYNAMICRAFTER (gst_dynamicrafter_get_type ())
G_DECLARE_FINAL_TYPE (GstDynamiCrafter, gst_dynamicrafter, GST, DYNAMICRAFTER,
    GstElement)

GST_ELEMENT_REGISTER_DECLARE (dynamicrafter);

G_END_DECLS
