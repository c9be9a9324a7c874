"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip into its venvs.

ansible-test (`sanity --venv`) fetches get-pip.py from its own file server, which this
project's machines cannot reach; it documents saving the script by hand into
~/.ansible/test/cache/get_pip_<version>.py instead (see the message of
ansible_test/_util/target/setup/requirements.py). hack/test.sh places this file there.
Like get-pip.py it installs pip into the running interpreter and then runs
`pip install <arguments>` (the pinned pip version ansible-test asks for), but it takes pip
from the interpreter's bundled ensurepip wheel and the package index instead of a download.
"""
import ensurepip
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))
