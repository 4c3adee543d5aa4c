// OpenBLAS's CBLAS interface. The include folder differs between Debian's OpenBLAS variants
// (openblas-pthread, openblas-openmp, …); pkg-config supplies it, so this file names no path.
#include <cblas.h>
