#!/bin/sh
echo debug
