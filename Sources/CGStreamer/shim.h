// GStreamer core, app (appsrc/appsink) and video helpers; pkg-config supplies the include paths.
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

// Swift cannot call C variadic functions (g_object_set, g_signal_connect) nor use the
// function-like macros (GST_SECOND, G_OBJECT casts), so these small typed wrappers stand in.
// Each setter passes exactly the C type its property expects: g_object_set reads its
// variadic argument with the property's own type, so an int handed to a guint64 property
// would be undefined behaviour.

static inline void dcgst_set_string(gpointer object, const gchar *name, const gchar *value) {
    g_object_set(object, name, value, NULL);
}

static inline void dcgst_set_int(gpointer object, const gchar *name, gint value) {
    g_object_set(object, name, value, NULL);
}

static inline void dcgst_set_uint(gpointer object, const gchar *name, guint value) {
    g_object_set(object, name, value, NULL);
}

static inline void dcgst_set_int64(gpointer object, const gchar *name, gint64 value) {
    g_object_set(object, name, value, NULL);
}

static inline void dcgst_set_caps(gpointer object, const gchar *name, GstCaps *caps) {
    g_object_set(object, name, caps, NULL);
}

static inline gulong dcgst_signal_connect(gpointer instance, const gchar *signal, GCallback handler, gpointer data) {
    return g_signal_connect_data(instance, signal, handler, data, NULL, (GConnectFlags)0);
}

static inline GstClockTime dcgst_second(void) {
    return GST_SECOND;
}
