#!/bin/sh
# Peer the three nodes of docker/compose.yaml with each other and give them the demo policy.
# Run from the repository root after `docker compose -f docker/compose.yaml up -d`.
set -eu
compose="docker compose -f docker/compose.yaml"
for node in mt de tn; do
  $compose exec -T "$node" cordon identity --output "/data/identity-export.json" 2> "/tmp/cordon-$node.fp" >/dev/null
  $compose exec -T "$node" cat /data/identity-export.json > "/tmp/cordon-$node.json"
done
for node in mt de tn; do
  for other in mt de tn; do
    [ "$node" = "$other" ] && continue
    fp=$(sed -n 's/^fingerprint: //p' "/tmp/cordon-$other.fp")
    $compose exec -T "$node" sh -c "cat > /data/peer-$other.json" < "/tmp/cordon-$other.json"
    $compose exec -T "$node" cordon peers add "/data/peer-$other.json" --fingerprint "$fp"
  done
  $compose exec -T "$node" cordon policy apply /app/policies/examples/mediterranean-demo.yaml
done
echo "peered: mt, de, tn"
