"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip into its venvs.

ansible-test (`sanity --venv`) fetches get-pip.py from its own file server, which this
project's machines cannot reach; it documents saving the script by hand into
~/.ansible/test/cache/get_pip_<version>.py instead (see the message of
ansible_test/_util/target/setup/requirements.py). hack/test.sh places this file there.
Like get-pip.py it runs `pip install <arguments>` (the pinned pip version ansible-test asks
for) with a pip that is not installed yet: here the pip wheel bundled with the interpreter's
ensurepip, run straight from the wheel, so only the requested pip ends up in the venv.
"""
import glob
import os
import subprocess
import sys

import ensurepip

wheels = glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled', 'pip-*.whl'))
if not wheels:
    sys.exit('no pip wheel bundled with ensurepip in %s' % sys.executable)
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
env = dict(os.environ)
env.pop('PIP_CONFIG_FILE', None)
sys.exit(subprocess.call([sys.executable, os.path.join(wheels[0], 'pip'), 'install'] + args, env=env))
