#!/bin/sh
exec /opt/app/server
