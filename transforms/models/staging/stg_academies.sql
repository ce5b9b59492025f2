-- Left joins so that an academy whose hub or trust is missing from meta stays visible (and
-- fails the not_null tests) instead of vanishing from every mart.
select
    a.academy_id,
    a.name as academy_name,
    a.urn,
    a.phase,
    a.adapter_kind,
    a.hub_id,
    h.name as hub_name,
    a.trust_id,
    t.name as trust_name
from {{ source('meta', 'academies') }} as a
left join {{ source('meta', 'hubs') }} as h
    on a.hub_id = h.hub_id
left join {{ source('meta', 'trust') }} as t
    on a.trust_id = t.trust_id
