-- The mart rolls academies up to hubs and trusts; an academy whose hub sits in another trust
-- would be counted under two different trusts.
select a.academy_id, a.trust_id, h.trust_id as hub_trust_id
from {{ source('meta', 'academies') }} as a
inner join {{ source('meta', 'hubs') }} as h
    on a.hub_id = h.hub_id
where a.trust_id <> h.trust_id
