#!/bin/bash
RUST_LOG=warn,gateway_store=debug LOG_FORMAT=json exec /tmp/gw-paced40 "$@" 2>>/tmp/paced-gw.log
