#include "dcclient.h"
#include "dcerror.h"

#include <gio/gunixfdlist.h>

#define MANAGER_PATH "/org/dynamicrafter/Animator1"
#define MANAGER_INTERFACE "org.dynamicrafter.Animator1"
#define JOB_INTERFACE "org.dynamicrafter.Animator1.Job"
/* How often the job's State is read when signals are the only other source of news. */
#define POLL_INTERVAL_SECONDS 2
/* TakeFrames and property reads answer at once; a daemon that does not is broken. */
#define SHORT_CALL_TIMEOUT_MS 30000

struct _DcClient {
  GDBusConnection *connection;
  gchar *service;
  gchar *bus_description;
  GMainContext *context;
  DcJobChanged changed;
  gpointer user_data;
  guint properties_subscription;
  guint completed_subscription;
  guint owner_subscription;
  DcJob *job;                   /* the job whose signals are tracked */
  GSource *poll_source;
  gboolean poll_due;
};

static void
job_free (DcJob * job)
{
  g_free (job->path);
  g_free (job->owner);
  g_free (job->state);
  g_free (job->stage);
  g_free (job->error_name);
  g_free (job->message);
  g_free (job);
}

static gboolean
is_final_state (const gchar * state)
{
  return g_strcmp0 (state, "done") == 0 || g_strcmp0 (state, "failed") == 0
      || g_strcmp0 (state, "cancelled") == 0;
}

/* The signal is about our current job, from the daemon that runs it. */
static DcJob *
tracked_job (DcClient * client, const gchar * sender, const gchar * path)
{
  DcJob *job = client->job;
  if (job == NULL || g_strcmp0 (job->path, path) != 0)
    return NULL;
  if (job->owner != NULL && g_strcmp0 (job->owner, sender) != 0)
    return NULL;
  return job;
}

static void
apply_property (DcJob * job, const gchar * name, GVariant * value)
{
  if (g_str_equal (name, "State") && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)) {
    g_free (job->state);
    job->state = g_variant_dup_string (value, NULL);
  } else if (g_str_equal (name, "Stage")
      && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)) {
    g_free (job->stage);
    job->stage = g_variant_dup_string (value, NULL);
  } else if (g_str_equal (name, "Step")
      && g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32)) {
    job->step = g_variant_get_uint32 (value);
  } else if (g_str_equal (name, "TotalSteps")
      && g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32)) {
    job->total_steps = g_variant_get_uint32 (value);
  } else if (g_str_equal (name, "Progress")
      && g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE)) {
    job->progress = g_variant_get_double (value);
  } else if (g_str_equal (name, "RemainingSeconds")
      && g_variant_is_of_type (value, G_VARIANT_TYPE_DOUBLE)) {
    job->remaining_seconds = g_variant_get_double (value);
  }
}

static void
on_properties_changed (GDBusConnection * connection, const gchar * sender,
    const gchar * path, const gchar * interface, const gchar * signal,
    GVariant * parameters, gpointer user_data)
{
  DcClient *client = user_data;
  DcJob *job = tracked_job (client, sender, path);
  const gchar *changed_interface;
  GVariantIter *changed;
  const gchar *name;
  GVariant *value;

  if (job == NULL || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sa{sv}as)")))
    return;
  g_variant_get (parameters, "(&sa{sv}as)", &changed_interface, &changed, NULL);
  if (g_str_equal (changed_interface, JOB_INTERFACE)) {
    while (g_variant_iter_loop (changed, "{&sv}", &name, &value))
      apply_property (job, name, value);
    if (client->changed)
      client->changed (job, client->user_data);
  }
  g_variant_iter_free (changed);
}

static void
on_completed (GDBusConnection * connection, const gchar * sender,
    const gchar * path, const gchar * interface, const gchar * signal,
    GVariant * parameters, gpointer user_data)
{
  DcClient *client = user_data;
  DcJob *job = tracked_job (client, sender, path);
  gboolean success;
  const gchar *name, *message;

  if (job == NULL || job->completed
      || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(bss)")))
    return;
  g_variant_get (parameters, "(b&s&s)", &success, &name, &message);
  job->completed = TRUE;
  job->success = success;
  if (!success && *name) {
    job->error_name = g_strdup (name);
    job->message = g_strdup (message);
  }
  if (client->changed)
    client->changed (job, client->user_data);
}

static void
on_name_owner_changed (GDBusConnection * connection, const gchar * sender,
    const gchar * path, const gchar * interface, const gchar * signal,
    GVariant * parameters, gpointer user_data)
{
  DcClient *client = user_data;
  const gchar *name, *old_owner, *new_owner;
  DcJob *job = client->job;

  if (job == NULL || job->owner == NULL || job->completed
      || !g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sss)")))
    return;
  g_variant_get (parameters, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (g_str_equal (old_owner, job->owner) && !g_str_equal (new_owner, job->owner)) {
    job->vanished = TRUE;
    job->completed = TRUE;
    if (client->changed)
      client->changed (job, client->user_data);
  }
}

static gboolean
on_poll_timer (gpointer user_data)
{
  DcClient *client = user_data;
  client->poll_due = TRUE;
  return G_SOURCE_CONTINUE;
}

static gchar *
resolve_address (const gchar * bus, gchar ** description,
    GCancellable * cancellable, GError ** error)
{
  GError *local = NULL;
  gchar *address = NULL;

  if (g_strcmp0 (bus, "session") == 0 || bus == NULL || *bus == '\0') {
    *description = g_strdup ("the session bus");
    address = g_dbus_address_get_for_bus_sync (G_BUS_TYPE_SESSION, cancellable, &local);
  } else if (g_strcmp0 (bus, "system") == 0) {
    *description = g_strdup ("the system bus");
    address = g_dbus_address_get_for_bus_sync (G_BUS_TYPE_SYSTEM, cancellable, &local);
  } else {
    *description = g_strdup_printf ("the bus at %s", bus);
    if (!g_dbus_is_supported_address (bus, &local)) {
      g_set_error (error, DC_ERROR, DC_ERROR_BUS,
          "'%s' is not a D-Bus address (bus must be session, system or an address "
          "such as unix:path=/run/dbus/socket): %s", bus, local->message);
      g_error_free (local);
      return NULL;
    }
    address = g_strdup (bus);
  }
  if (address == NULL) {
    g_set_error (error, DC_ERROR, DC_ERROR_BUS, "cannot find %s: %s",
        *description, local->message);
    g_error_free (local);
  }
  return address;
}

DcClient *
dc_client_new (const gchar * bus, const gchar * service,
    GMainContext * context, DcJobChanged changed, gpointer user_data,
    GCancellable * cancellable, GError ** error)
{
  GError *local = NULL;
  gchar *description = NULL;
  gchar *address;
  GDBusConnection *connection;
  DcClient *client;

  if (!g_dbus_is_name (service)) {
    g_set_error (error, DC_ERROR, DC_ERROR_INVALID_ARGUMENT,
        "service-name '%s' is not a D-Bus bus name (e.g. %s)", service, DC_SERVICE_NAME);
    return NULL;
  }
  address = resolve_address (bus, &description, cancellable, error);
  if (address == NULL) {
    g_free (description);
    return NULL;
  }
  /* A private connection, not the process's shared one: closing it when the element
   * stops is our last word to the daemon, which then cancels whatever we left. */
  connection = g_dbus_connection_new_for_address_sync (address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
      G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, cancellable, &local);
  g_free (address);
  if (connection == NULL) {
    g_set_error (error, DC_ERROR, DC_ERROR_BUS, "cannot connect to %s: %s",
        description, local->message);
    g_error_free (local);
    g_free (description);
    return NULL;
  }
  g_dbus_connection_set_exit_on_close (connection, FALSE);

  client = g_new0 (DcClient, 1);
  client->connection = connection;
  client->service = g_strdup (service);
  client->bus_description = description;
  client->context = g_main_context_ref (context);
  client->changed = changed;
  client->user_data = user_data;

  /* Subscribed before any Animate, as the contract asks, so no early update is missed;
   * the callbacks run in `context`, which only the element's task iterates. */
  g_main_context_push_thread_default (context);
  client->properties_subscription = g_dbus_connection_signal_subscribe (connection,
      service, "org.freedesktop.DBus.Properties", "PropertiesChanged", NULL,
      JOB_INTERFACE, G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed, client, NULL);
  client->completed_subscription = g_dbus_connection_signal_subscribe (connection,
      service, JOB_INTERFACE, "Completed", NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
      on_completed, client, NULL);
  client->owner_subscription = g_dbus_connection_signal_subscribe (connection,
      "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
      "/org/freedesktop/DBus", service, G_DBUS_SIGNAL_FLAGS_NONE,
      on_name_owner_changed, client, NULL);
  g_main_context_pop_thread_default (context);
  return client;
}

void
dc_client_free (DcClient * client)
{
  if (client == NULL)
    return;
  if (client->job)
    dc_client_forget (client, client->job);
  g_dbus_connection_signal_unsubscribe (client->connection,
      client->properties_subscription);
  g_dbus_connection_signal_unsubscribe (client->connection,
      client->completed_subscription);
  g_dbus_connection_signal_unsubscribe (client->connection,
      client->owner_subscription);
  /* Signals already queued for the unsubscribed handlers are dropped when dispatched;
   * dispatch them now so they free their data instead of lingering in the context. */
  while (g_main_context_iteration (client->context, FALSE));
  g_dbus_connection_flush_sync (client->connection, NULL, NULL);
  g_dbus_connection_close_sync (client->connection, NULL, NULL);
  g_object_unref (client->connection);
  g_main_context_unref (client->context);
  g_free (client->service);
  g_free (client->bus_description);
  g_free (client);
}

const gchar *
dc_client_bus_description (const DcClient * client)
{
  return client->bus_description;
}

const gchar *
dc_client_service (const DcClient * client)
{
  return client->service;
}

static gboolean
add_image (GUnixFDList * fds, DcImage * image, gint32 * handle, GError ** error)
{
  GError *local = NULL;

  if (!dc_image_rewind (image, error))
    return FALSE;
  *handle = g_unix_fd_list_append (fds, image->fd, &local);
  if (*handle < 0) {
    g_set_error (error, DC_ERROR, DC_ERROR_SYSTEM,
        "cannot pass the image descriptor: %s", local->message);
    g_error_free (local);
    return FALSE;
  }
  return TRUE;
}

DcJob *
dc_client_animate (DcClient * client, DcImage * image, DcImage * end_image,
    GVariantBuilder * options, GCancellable * cancellable, GError ** error)
{
  GError *local = NULL;
  GUnixFDList *fds = g_unix_fd_list_new ();
  GDBusMessage *message = NULL, *reply = NULL;
  gint32 image_handle, end_handle;
  const gchar *path;
  gboolean options_used = FALSE;
  DcJob *job = NULL;

  g_return_val_if_fail (client->job == NULL, NULL);

  if (!add_image (fds, image, &image_handle, error))
    goto done;
  g_variant_builder_add (options, "{sv}", "format", g_variant_new_string (image->format));
  g_variant_builder_add (options, "{sv}", "width", g_variant_new_uint32 (image->width));
  g_variant_builder_add (options, "{sv}", "height", g_variant_new_uint32 (image->height));
  g_variant_builder_add (options, "{sv}", "stride", g_variant_new_uint32 (image->stride));
  if (end_image) {
    if (!add_image (fds, end_image, &end_handle, error))
      goto done;
    g_variant_builder_add (options, "{sv}", "end-image", g_variant_new_handle (end_handle));
  }

  message = g_dbus_message_new_method_call (client->service, MANAGER_PATH,
      MANAGER_INTERFACE, "Animate");
  g_dbus_message_set_body (message, g_variant_new ("(ha{sv})", image_handle, options));
  options_used = TRUE;
  g_dbus_message_set_unix_fd_list (message, fds);
  /* No timeout: activation and a busy daemon may take long, and stopping the pipeline
   * cancels the call through `cancellable`. */
  reply = g_dbus_connection_send_message_with_reply_sync (client->connection,
      message, G_DBUS_SEND_MESSAGE_FLAGS_NONE, G_MAXINT, NULL, cancellable, &local);
  if (reply == NULL || g_dbus_message_to_gerror (reply, &local)) {
    dc_error_from_dbus (error, local);
    goto done;
  }
  if (!g_variant_is_of_type (g_dbus_message_get_body (reply), G_VARIANT_TYPE ("(o)"))) {
    g_set_error (error, DC_ERROR, DC_ERROR_PROTOCOL,
        "Animate answered %s instead of (o)",
        g_dbus_message_get_signature (reply));
    goto done;
  }
  g_variant_get (g_dbus_message_get_body (reply), "(&o)", &path);

  job = g_new0 (DcJob, 1);
  job->path = g_strdup (path);
  job->owner = g_strdup (g_dbus_message_get_sender (reply));
  job->started = g_get_monotonic_time ();
  job->state = g_strdup ("queued");
  job->stage = g_strdup ("");
  job->remaining_seconds = -1;
  client->job = job;
  client->poll_due = FALSE;
  client->poll_source = g_timeout_source_new_seconds (POLL_INTERVAL_SECONDS);
  g_source_set_callback (client->poll_source, on_poll_timer, client, NULL);
  g_source_attach (client->poll_source, client->context);

done:
  if (!options_used)
    g_variant_builder_clear (options);
  g_clear_object (&message);
  g_clear_object (&reply);
  g_object_unref (fds);
  return job;
}

gboolean
dc_client_take_poll_due (DcClient * client)
{
  gboolean due = client->poll_due;
  client->poll_due = FALSE;
  return due;
}

void
dc_client_poll (DcClient * client, DcJob * job, GCancellable * cancellable)
{
  GVariant *reply, *value;
  GError *local = NULL;

  if (job->completed)
    return;
  reply = g_dbus_connection_call_sync (client->connection, job->owner, job->path,
      "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", JOB_INTERFACE, "State"), G_VARIANT_TYPE ("(v)"),
      G_DBUS_CALL_FLAGS_NO_AUTO_START, SHORT_CALL_TIMEOUT_MS, cancellable, &local);
  if (reply == NULL) {
    /* A daemon that lost the job (or left) gives UnknownObject/ServiceUnknown: the job
     * can no longer complete. Other failures (cancelled, timeout) are retried later. */
    if (g_error_matches (local, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT)
        || g_error_matches (local, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
        || g_error_matches (local, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER)) {
      job->vanished = TRUE;
      job->completed = TRUE;
    }
    g_error_free (local);
    return;
  }
  g_variant_get (reply, "(v)", &value);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)
      && is_final_state (g_variant_get_string (value, NULL))) {
    apply_property (job, "State", value);
    job->completed = TRUE;
    job->success = g_str_equal (job->state, "done");
  }
  g_variant_unref (value);
  g_variant_unref (reply);
}

DcFrames *
dc_client_take_frames (DcClient * client, DcJob * job,
    GCancellable * cancellable, GError ** error)
{
  GError *local = NULL;
  GUnixFDList *fds = NULL;
  GVariant *reply, *info;
  gint32 handle;
  gint fd;
  guint width = 0, height = 0, frames = 0, fps = 0;
  const gchar *format = NULL;
  DcFrames *result = NULL;

  reply = g_dbus_connection_call_with_unix_fd_list_sync (client->connection,
      job->owner, job->path, JOB_INTERFACE, "TakeFrames", NULL,
      G_VARIANT_TYPE ("(ha{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
      SHORT_CALL_TIMEOUT_MS, NULL, &fds, cancellable, &local);
  if (reply == NULL) {
    dc_error_from_dbus (error, local);
    return NULL;
  }
  g_variant_get (reply, "(h@a{sv})", &handle, &info);
  if (!g_variant_lookup (info, "width", "u", &width)
      || !g_variant_lookup (info, "height", "u", &height)
      || !g_variant_lookup (info, "frames", "u", &frames)
      || !g_variant_lookup (info, "fps", "u", &fps)
      || !g_variant_lookup (info, "format", "&s", &format)
      || g_strcmp0 (format, "RGB") != 0) {
    gchar *text = g_variant_print (info, TRUE);
    g_set_error (error, DC_ERROR, DC_ERROR_PROTOCOL,
        "TakeFrames gave an info dictionary without width/height/frames/fps or with a "
        "format other than RGB: %s", text);
    g_free (text);
  } else if (fds == NULL || (fd = g_unix_fd_list_get (fds, handle, &local)) < 0) {
    g_set_error (error, DC_ERROR, DC_ERROR_PROTOCOL,
        "TakeFrames gave no usable descriptor: %s",
        local ? local->message : "no descriptors attached");
    g_clear_error (&local);
  } else {
    result = dc_frames_map (fd, width, height, frames, fps, error);
  }
  g_variant_unref (info);
  g_variant_unref (reply);
  g_clear_object (&fds);
  return result;
}

void
dc_client_cancel (DcClient * client, DcJob * job)
{
  GDBusMessage *message;

  if (job->completed || job->owner == NULL)
    return;
  message = g_dbus_message_new_method_call (job->owner, job->path,
      JOB_INTERFACE, "Cancel");
  /* Fire and forget: stopping a pipeline must not wait for the daemon's answer. */
  g_dbus_message_set_flags (message, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
  g_dbus_connection_send_message (client->connection, message,
      G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
  g_object_unref (message);
  g_dbus_connection_flush_sync (client->connection, NULL, NULL);
}

void
dc_client_forget (DcClient * client, DcJob * job)
{
  if (client->job == job) {
    client->job = NULL;
    if (client->poll_source) {
      g_source_destroy (client->poll_source);
      g_source_unref (client->poll_source);
      client->poll_source = NULL;
    }
  }
  job_free (job);
}
