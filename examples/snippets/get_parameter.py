"""The README's Python example, run by tests/test_readme.py: `python3 get_parameter.py NAME` prints the value.

The lines between the readme markers are the README's code block, character for character (the test checks it).
"""

import sys

# readme:begin
import json, os, urllib.parse, urllib.request

def get_parameter(name, decrypt=False):
    port = os.environ.get("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "2773")
    q = urllib.parse.urlencode({"name": name, "withDecryption": str(decrypt).lower()})
    req = urllib.request.Request(f"http://localhost:{port}/systemsmanager/parameters/get?{q}",
                                 headers={"X-Aws-Parameters-Secrets-Token": os.environ["AWS_SESSION_TOKEN"]})
    return json.load(urllib.request.urlopen(req))["Parameter"]["Value"]
# readme:end

if __name__ == "__main__":
    print(get_parameter(sys.argv[1], decrypt=True))
