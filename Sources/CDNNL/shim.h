// oneDNN's C API. Debian's libdnnl-dev ships no pkg-config file; the header lives in the
// default include path as oneapi/dnnl/dnnl.h and the library is libdnnl.so.2 (link name dnnl).
#include <oneapi/dnnl/dnnl.h>
