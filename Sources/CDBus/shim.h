// libdbus (Debian's libdbus-1); pkg-config supplies the include paths.
#include <dbus/dbus.h>
