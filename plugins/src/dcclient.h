/* A thin GDBus client of dynamicrafterd (dbus/org.dynamicrafter.Animator1.xml): a private
 * connection per element (so the daemon cancels our job if we vanish), Animate with the
 * image as a sealed memfd, job signals dispatched in the element's own GMainContext,
 * TakeFrames, Cancel. Not thread safe: the element's source-pad task is its only user
 * while it runs, and the element tears it down only after stopping that task. */
#pragma once

#include <gio/gio.h>

#include "dcimage.h"

G_BEGIN_DECLS

#define DC_SERVICE_NAME "org.dynamicrafter.Animator1"

/* One job, as the last signals described it. */
typedef struct {
  gchar *path;
  gchar *owner;                 /* unique bus name of the daemon that accepted it */
  gint64 started;               /* g_get_monotonic_time () when Animate was sent */
  gchar *state;                 /* queued, running, done, failed, cancelled */
  gchar *stage;
  guint step;
  guint total_steps;
  gdouble progress;
  gdouble remaining_seconds;
  gboolean completed;
  gboolean success;
  gchar *error_name;            /* from Completed; NULL when it did not say */
  gchar *message;
  gboolean vanished;            /* the daemon left the bus before completing it */
} DcJob;

/* Called from the client's GMainContext whenever the job's state changed. */
typedef void (*DcJobChanged) (DcJob * job, gpointer user_data);

typedef struct _DcClient DcClient;

/* Connects to `bus` ("session", "system" or a D-Bus address) and subscribes to the job
 * signals of `service`; the subscriptions dispatch in `context`. */
DcClient *dc_client_new (const gchar * bus, const gchar * service,
    GMainContext * context, DcJobChanged changed, gpointer user_data,
    GCancellable * cancellable, GError ** error);
/* Cancels nothing by itself: call dc_client_cancel first if a job must stop. Closing the
 * connection makes the daemon cancel our jobs anyway (a caller leaving the bus). */
void dc_client_free (DcClient * client);
/* "the session bus", "the system bus" or "the bus at ADDRESS", for messages. */
const gchar *dc_client_bus_description (const DcClient * client);
const gchar *dc_client_service (const DcClient * client);

/* Queues a job. `options` holds the sampling options (a{sv}); the raw-pixel keys, the
 * image and, when given, the end image are added here. The returned job is the client's
 * current job: only its signals are tracked. */
DcJob *dc_client_animate (DcClient * client, DcImage * image,
    DcImage * end_image, GVariantBuilder * options, GCancellable * cancellable,
    GError ** error);

/* Reads the job's State when no signal came for a while (a lost signal must not hang the
 * pipeline); marks it completed when the state is final. */
void dc_client_poll (DcClient * client, DcJob * job, GCancellable * cancellable);

/* The finished job's frames, or the job's own error (Cancelled, ModelLoadFailed …). */
DcFrames *dc_client_take_frames (DcClient * client, DcJob * job,
    GCancellable * cancellable, GError ** error);

/* Asks the daemon to cancel the job without waiting for the answer. */
void dc_client_cancel (DcClient * client, DcJob * job);

/* Stops tracking the job and frees it. */
void dc_client_forget (DcClient * client, DcJob * job);

/* Whether a poll is due (no news about the current job for a while); clears the flag. */
gboolean dc_client_take_poll_due (DcClient * client);

G_END_DECLS
