#include "dcerror.h"

#include <gio/gio.h>

G_DEFINE_QUARK (dynamicrafter-error-quark, dc_error)

#define DAEMON_ERROR_PREFIX "org.dynamicrafter.Animator1.Error."

static const struct {
  const gchar *name;
  DcErrorCode code;
} daemon_errors[] = {
  {DAEMON_ERROR_PREFIX "InvalidArgument", DC_ERROR_INVALID_ARGUMENT},
  {DAEMON_ERROR_PREFIX "InvalidImage", DC_ERROR_INVALID_IMAGE},
  {DAEMON_ERROR_PREFIX "ModelNotFound", DC_ERROR_MODEL_NOT_FOUND},
  {DAEMON_ERROR_PREFIX "ModelLoadFailed", DC_ERROR_MODEL_LOAD_FAILED},
  {DAEMON_ERROR_PREFIX "Busy", DC_ERROR_BUSY},
  {DAEMON_ERROR_PREFIX "Cancelled", DC_ERROR_CANCELLED},
  {DAEMON_ERROR_PREFIX "ShuttingDown", DC_ERROR_SHUTTING_DOWN},
  {DAEMON_ERROR_PREFIX "Internal", DC_ERROR_INTERNAL},
};

/* Bus errors meaning "nobody owns the name and nobody can start it". */
static gboolean
is_activation_failure (const gchar * name)
{
  return g_str_equal (name, "org.freedesktop.DBus.Error.ServiceUnknown")
      || g_str_equal (name, "org.freedesktop.DBus.Error.NameHasNoOwner")
      || g_str_has_prefix (name, "org.freedesktop.DBus.Error.Spawn.");
}

void
dc_error_from_name (GError ** error, const gchar * name, const gchar * message)
{
  const gchar *text = (message && *message) ? message : "(no message)";

  for (guint i = 0; i < G_N_ELEMENTS (daemon_errors); i++) {
    if (g_str_equal (name, daemon_errors[i].name)) {
      g_set_error_literal (error, DC_ERROR, daemon_errors[i].code, text);
      return;
    }
  }
  if (is_activation_failure (name)) {
    g_set_error_literal (error, DC_ERROR, DC_ERROR_NO_DAEMON, text);
    return;
  }
  g_set_error (error, DC_ERROR, DC_ERROR_OTHER, "%s: %s", name, text);
}

void
dc_error_from_dbus (GError ** error, GError * source)
{
  gchar *name;

  if (g_error_matches (source, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_propagate_error (error, source);
    return;
  }
  name = g_dbus_error_get_remote_error (source);
  if (name == NULL) {
    /* Not from the other side: the connection broke or timed out. */
    g_set_error (error, DC_ERROR, DC_ERROR_BUS, "D-Bus call failed: %s",
        source->message);
  } else {
    g_dbus_error_strip_remote_error (source);
    dc_error_from_name (error, name, source->message);
    g_free (name);
  }
  g_error_free (source);
}

const gchar *
dc_error_dbus_name (gint code)
{
  for (guint i = 0; i < G_N_ELEMENTS (daemon_errors); i++) {
    if ((gint) daemon_errors[i].code == code)
      return daemon_errors[i].name;
  }
  return "";
}

void
dc_error_to_gst (const GError * error, GQuark * domain, gint * code)
{
  *domain = GST_RESOURCE_ERROR;
  *code = GST_RESOURCE_ERROR_FAILED;
  if (error->domain != DC_ERROR)
    return;
  switch (error->code) {
    case DC_ERROR_BUS:
      *code = GST_RESOURCE_ERROR_OPEN_READ_WRITE;
      break;
    case DC_ERROR_NO_DAEMON:
    case DC_ERROR_MODEL_NOT_FOUND:
      *code = GST_RESOURCE_ERROR_NOT_FOUND;
      break;
    case DC_ERROR_MODEL_LOAD_FAILED:
      *code = GST_RESOURCE_ERROR_READ;
      break;
    case DC_ERROR_INVALID_ARGUMENT:
      *code = GST_RESOURCE_ERROR_SETTINGS;
      break;
    case DC_ERROR_BUSY:
      *code = GST_RESOURCE_ERROR_BUSY;
      break;
    case DC_ERROR_INVALID_IMAGE:
      *domain = GST_STREAM_ERROR;
      *code = GST_STREAM_ERROR_FORMAT;
      break;
    default:
      break;
  }
}
