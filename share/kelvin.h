/* kelvin — the public C interface, installed as <kelvin/kelvin.h>: status codes and messages,
 * the model table, surrogates (the kind table, fit/predict/save/load), Gaussian processes, POD,
 * and HDF5 field I/O. Link with `pkg-config --libs kelvin`. */
#ifndef KELVIN_KELVIN_H
#define KELVIN_KELVIN_H

#include <kelvin/core/status.h>
#include <kelvin/core/version.h>
#include <kelvin/io/h5.h>
#include <kelvin/numerics/pod.h>
#include <kelvin/solvers/model.h>
#include <kelvin/surrogates/gp.h>
#include <kelvin/surrogates/surrogate.h>

#endif
