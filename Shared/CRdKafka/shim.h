#ifndef ZEEK_MGMT_CRDKAFKA_SHIM_H
#define ZEEK_MGMT_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#endif
