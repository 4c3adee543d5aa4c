/* Errors of the dynamicrafter element: one code per failure the daemon's contract names
 * (dbus/org.dynamicrafter.Animator1.xml), plus the ones that happen on our side of the bus. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define DC_ERROR (dc_error_quark ())
GQuark dc_error_quark (void);

typedef enum {
  DC_ERROR_BUS,                 /* the bus itself cannot be reached */
  DC_ERROR_NO_DAEMON,           /* the service is not running and not activatable */
  DC_ERROR_DAEMON_VANISHED,     /* the daemon left the bus during a job */
  DC_ERROR_INVALID_ARGUMENT,
  DC_ERROR_INVALID_IMAGE,
  DC_ERROR_MODEL_NOT_FOUND,
  DC_ERROR_MODEL_LOAD_FAILED,
  DC_ERROR_BUSY,
  DC_ERROR_CANCELLED,           /* the daemon reports the job cancelled */
  DC_ERROR_SHUTTING_DOWN,
  DC_ERROR_INTERNAL,
  DC_ERROR_PROTOCOL,            /* a reply that breaks the contract */
  DC_ERROR_SYSTEM,              /* memfd/mmap and friends on our side */
  DC_ERROR_OTHER,               /* any other D-Bus error (its name is in the message) */
} DcErrorCode;

/* Converts a failed GDBus call into a DC_ERROR, keeping the daemon's message. Local
 * cancellation (G_IO_ERROR_CANCELLED) is passed through unchanged. Takes ownership of
 * `source`. */
void dc_error_from_dbus (GError ** error, GError * source);

/* Sets a DC_ERROR from a D-Bus error name and message (as in the Completed signal). */
void dc_error_from_name (GError ** error, const gchar * name, const gchar * message);

/* The D-Bus error name a code stands for ("" for our local codes). */
const gchar *dc_error_dbus_name (gint code);

/* GStreamer's error domain and code for a DC_ERROR (for GST_ELEMENT_ERROR). */
void dc_error_to_gst (const GError * error, GQuark * domain, gint * code);

G_END_DECLS
